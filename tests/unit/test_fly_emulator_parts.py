"""The emulator's image mapping, config validation and fault switches, without a server."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from fly.emu_config import EmulatorError, parse_duration_s, parse_signal, validate_create
from fly.emu_faults import Faults, Refusal
from fly.emu_images import BOT_IMAGE_SPEC, ImageSpec, ImageTable, command_for, image_ref_parts
from stack.fly_local import fly_target, load_or_create_token, run_fly_emulator


def test_any_image_boots_the_bot_entrypoint_by_default() -> None:
    spec = ImageTable().resolve("registry.fly.io/hmmtrade-bots:deadbeef")
    assert spec == BOT_IMAGE_SPEC
    assert command_for(spec, None) == [sys.executable, "-m", "fly.boot"]


def test_init_overrides_follow_docker_rules() -> None:
    spec = ImageSpec(entrypoint=("python", "-m", "fly.boot"), cmd=("--verbose",))
    assert command_for(spec, {"cmd": ["--once"]}) == [sys.executable, "-m", "fly.boot", "--once"]
    assert command_for(spec, {"entrypoint": ["/bin/sh", "-c"], "cmd": ["echo hi"]}) == ["/bin/sh", "-c", "echo hi"]
    assert command_for(spec, {"entrypoint": ["/bin/true"]}) == ["/bin/true"]  # the image's CMD is dropped
    assert command_for(spec, {"exec": ["/bin/echo", "x"], "cmd": ["ignored"]}) == ["/bin/echo", "x"]
    with pytest.raises(ValueError, match="no command"):
        command_for(ImageSpec(entrypoint=()), None)


def test_an_image_table_file_maps_references_and_can_refuse_unknown_images(tmp_path: Path) -> None:
    table_file = tmp_path / "images.json"
    table_file.write_text(
        json.dumps(
            {"images": {"registry.fly.io/other:1": {"entrypoint": ["/bin/echo"], "cmd": ["other"]}}, "default": None}
        )
    )
    table = ImageTable.from_file(table_file)
    assert table.resolve("registry.fly.io/other:2").cmd == ("other",)  # same repository, another tag
    with pytest.raises(LookupError, match="not found"):
        table.resolve("registry.fly.io/missing:1")
    table_file.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        ImageTable.from_file(table_file)


def test_image_refs_split_like_flys_image_ref() -> None:
    assert image_ref_parts("registry.fly.io/hmmtrade-bots:v3") == {
        "registry": "registry.fly.io",
        "repository": "hmmtrade-bots",
        "tag": "v3",
        "digest": "",
        "labels": {},
    }
    assert image_ref_parts("python:3.12-slim")["repository"] == "library/python"


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("1m30s", 90), ("500ms", 0.5), (12, 12), ("2h", 7200)])
def test_durations_are_go_durations_or_seconds(text: str | int, seconds: float) -> None:
    assert parse_duration_s(text, "timeout") == seconds


@pytest.mark.parametrize("bad", ["30", "soon", "", "-1s", True, None, "5s extra"])
def test_bad_durations_name_the_field(bad: object) -> None:
    with pytest.raises(EmulatorError, match="timeout"):
        parse_duration_s(bad, "timeout")


def test_signals_by_name_short_name_or_number() -> None:
    assert parse_signal("SIGTERM", "signal") is signal.SIGTERM
    assert parse_signal("int", "signal") is signal.SIGINT
    assert parse_signal(9, "signal") is signal.SIGKILL
    with pytest.raises(EmulatorError, match="not a signal"):
        parse_signal("SIGNOPE", "signal")


def test_a_create_gets_flys_defaults_and_bad_fields_are_named() -> None:
    created = validate_create({"config": {"image": "img"}}, ImageTable())
    assert created["config"]["guest"] == {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256}
    assert created["config"]["restart"] == {"policy": "on-failure"}
    cases = [
        ({}, "config: required"),
        ({"config": {}}, "config.image"),
        ({"config": {"image": "img", "env": {"A": 1}}}, "config.env"),
        ({"config": {"image": "img", "restart": {"policy": "sometimes"}}}, "config.restart.policy"),
        ({"config": {"image": "img", "restart": {"max_retries": -1}}}, "config.restart.max_retries"),
        ({"config": {"image": "img", "init": {"exec": "ls"}}}, "config.init.exec"),
        ({"config": {"image": "img", "stop_config": {"signal": "SIGWAT"}}}, "config.stop_config.signal"),
        ({"config": {"image": "img"}, "name": "Not Valid"}, "name"),
    ]
    for body, field in cases:
        with pytest.raises(EmulatorError, match=field.replace(".", r"\.")) as refused:
            validate_create(body, ImageTable())
        assert refused.value.status == 400
    with pytest.raises(EmulatorError) as unknown:
        validate_create({"config": {"image": "nope:1"}}, ImageTable(default=None))
    assert unknown.value.status == 422


def test_the_rate_limit_is_per_action_and_machine_with_bursts() -> None:
    now = [0.0]
    faults = Faults(clock=lambda: now[0])
    faults.rate_limit(per_s=1, burst=3)
    assert [faults.refusal_for("get", "m1") for _ in range(3)] == [None, None, None]
    assert faults.refusal_for("get", "m1") == Refusal(429, retry_after_s=1)
    assert faults.refusal_for("get", "m2") is None  # another machine has its own bucket
    assert faults.refusal_for("start", "m1") is None  # another action too
    now[0] = 1.0
    assert faults.refusal_for("get", "m1") is None
    assert faults.refused == 1


def test_injected_answers_come_in_order_and_the_outage_wins() -> None:
    faults = Faults()
    faults.apply({"fail_next": [{"status": 503}, {"status": 429, "retry_after": 4}]})
    assert faults.refusal_for("list", "app") == Refusal(503)
    faults.outage = True
    assert faults.refusal_for("list", "app") == Refusal(503)
    faults.outage = False
    assert faults.refusal_for("list", "app") == Refusal(429, 4)
    assert faults.refusal_for("list", "app") is None
    assert faults.snapshot()["refused"] == 3


def test_up_makes_one_private_token_per_data_dir(tmp_path: Path) -> None:
    first = load_or_create_token(tmp_path / "keys" / "fly-emulator-token")
    assert load_or_create_token(tmp_path / "keys" / "fly-emulator-token") == first
    assert (tmp_path / "keys" / "fly-emulator-token").stat().st_mode & 0o777 == 0o600
    target = fly_target(tmp_path, {})
    assert target.argv is not None and target.token == first
    assert target.service_env()["FLY_API_HOSTNAME"] == target.url


def test_up_uses_an_external_machines_api_when_told(tmp_path: Path) -> None:
    target = fly_target(tmp_path, {"FLY_API_HOSTNAME": "https://api.machines.dev/", "FLY_API_TOKEN": "t"})
    assert target.argv is None
    assert target.service_env() == {
        "FLY_API_HOSTNAME": "https://api.machines.dev",
        "FLY_API_TOKEN": "t",
        "FLY_APP_NAME": "hmmtrade-bots",
    }


def test_the_emulator_command_refuses_to_start_without_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FLY_API_TOKEN", raising=False)
    assert run_fly_emulator(host="127.0.0.1", port=0, data_dir=None, images=None) == 2
    assert "set FLY_API_TOKEN" in capsys.readouterr().err
