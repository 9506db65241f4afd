"""The Fly client's requests, retries and error translation, against httpx.MockTransport."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from fly.backoff import RetryPolicy, parse_retry_after
from fly.client import FlyMachines
from fly.errors import (
    FlyAuthError,
    FlyBadRequest,
    FlyConflict,
    FlyError,
    FlyNotFound,
    FlyPermanentError,
    FlyRateLimited,
    FlyTransientError,
    FlyUnavailable,
    FlyWaitTimeout,
)
from fly.models import MachineConfig, bot_machine_config
from fly.settings import FlySettings

TOKEN = "fo1_unit-test-token"
Handler = Callable[[httpx.Request], httpx.Response]


def machine_json(
    machine_id: str = "3d8d9014b32908", *, bot_id: str = "bot-1", state: str = "started"
) -> dict[str, Any]:
    return {
        "id": machine_id,
        "name": "bot",
        "state": state,
        "region": "iad",
        "instance_id": "01H3JK",
        "private_ip": "fdaa::2",
        "config": {"image": "registry.fly.io/hmmtrade-bots:1", "metadata": {"bot_id": bot_id}},
        "created_at": "2026-12-01T08:00:00Z",
        "updated_at": "2026-12-01T08:00:00Z",
        "events": [],
        "checks": [],  # a field we do not model: ignored
    }


class Recorder:
    """A MockTransport handler that answers from a script and records every request."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(recorder: Recorder, sleeps: Sleeps | None = None, **retry: Any) -> FlyMachines:
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    return FlyMachines(
        http,
        app_name="hmmtrade-bots",
        token=TOKEN,
        base_url="https://api.machines.dev",
        retry=RetryPolicy(**retry),
        sleep=sleeps or Sleeps(),
        rng=random.Random(1),
    )


def ok(body: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"ok": True} if body is None else body, headers=headers)


def error(status: int, message: str = "nope", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": message}, headers=headers)


async def test_create_sends_the_bot_config_with_bearer_auth() -> None:
    recorder = Recorder(ok(machine_json(state="created")))
    fly = make_client(recorder)
    config = bot_machine_config(bot_id="bot-1", image="registry.fly.io/hmmtrade-bots:1", env={"BOT_ID": "bot-1"})

    machine = await fly.create(config, region="ams")

    [request] = recorder.requests
    assert (request.method, request.url.path) == ("POST", "/v1/apps/hmmtrade-bots/machines")
    assert request.url.host == "api.machines.dev"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    body = json.loads(request.content)
    assert body["region"] == "ams"
    assert body["config"]["guest"] == {"cpu_kind": "shared", "cpus": 1, "memory_mb": 1024}
    assert body["config"]["restart"] == {"policy": "on-failure", "max_retries": 3}
    assert body["config"]["metadata"] == {"bot_id": "bot-1"}
    assert body["config"]["env"] == {"BOT_ID": "bot-1"}
    assert body["config"]["stop_config"] == {"signal": "SIGTERM", "timeout": "30s"}
    assert (machine.id, machine.state, machine.bot_id) == ("3d8d9014b32908", "created", "bot-1")


async def test_list_filters_by_metadata_on_the_server_and_again_here() -> None:
    recorder = Recorder(ok([machine_json("aaa", bot_id="bot-1"), machine_json("bbb", bot_id="bot-2")]))
    fly = make_client(recorder)
    machines = await fly.list(metadata={"bot_id": "bot-1"})
    assert recorder.requests[0].url.params["metadata.bot_id"] == "bot-1"
    assert [m.id for m in machines] == ["aaa"]  # a server that ignored the filter cannot mix bots up


async def test_destroyed_machines_are_not_listed_unless_asked() -> None:
    recorder = Recorder(ok([machine_json("aaa", state="destroyed"), machine_json("bbb")]))
    fly = make_client(recorder)
    assert [m.id for m in await fly.list()] == ["bbb"]
    assert [m.id for m in await fly.list(include_deleted=True)] == ["aaa", "bbb"]
    assert recorder.requests[1].url.params["include_deleted"] == "true"


async def test_stop_start_wait_and_delete_use_fly_paths_and_parameters() -> None:
    recorder = Recorder(ok(), ok({"previous_state": "stopped"}), ok(), ok())
    fly = make_client(recorder)
    await fly.stop("m1", signal="SIGTERM", timeout_s=12)
    assert await fly.start("m1") == "stopped"
    await fly.wait("m1", "started", timeout_s=5, instance_id="01H")
    await fly.delete("m1", force=True)
    stop, start, wait, delete = recorder.requests
    assert (stop.method, stop.url.path, json.loads(stop.content)) == (
        "POST",
        "/v1/apps/hmmtrade-bots/machines/m1/stop",
        {"signal": "SIGTERM", "timeout": "12s"},
    )
    assert (start.method, start.url.path) == ("POST", "/v1/apps/hmmtrade-bots/machines/m1/start")
    assert dict(wait.url.params) == {"state": "started", "timeout": "5", "instance_id": "01H"}
    assert (delete.method, dict(delete.url.params)) == ("DELETE", {"force": "true"})


async def test_a_long_wait_is_split_into_calls_of_at_most_60_seconds() -> None:
    recorder = Recorder(error(408, "deadline_exceeded"), error(408, "deadline_exceeded"), ok())
    fly = make_client(recorder)
    await fly.wait("m1", "stopped", timeout_s=150)
    assert [r.url.params["timeout"] for r in recorder.requests] == ["60", "60", "30"]


async def test_a_wait_past_its_deadline_raises_wait_timeout() -> None:
    recorder = Recorder(error(408, "deadline_exceeded"))
    fly = make_client(recorder)
    with pytest.raises(FlyWaitTimeout, match="did not reach 'stopped' within 2s"):
        await fly.wait("m1", "stopped", timeout_s=2)
    assert len(recorder.requests) == 1


async def test_429_is_retried_after_retry_after() -> None:
    sleeps = Sleeps()
    recorder = Recorder(error(429, "rate limited", {"Retry-After": "2"}), ok(machine_json()))
    fly = make_client(recorder, sleeps)
    assert (await fly.get("m1")).id == "3d8d9014b32908"
    assert sleeps.delays == [2.0]


async def test_429_without_retry_after_backs_off_exponentially_then_gives_up() -> None:
    sleeps = Sleeps()
    recorder = Recorder(error(429, "rate limited"))
    fly = make_client(recorder, sleeps, max_attempts=5, base_delay_s=0.5, max_delay_s=3.0)
    with pytest.raises(FlyRateLimited) as limited:
        await fly.get("m1")
    assert len(recorder.requests) == 5
    ceilings = [0.5, 1.0, 2.0, 3.0]
    assert len(sleeps.delays) == 4
    assert all(c / 2 <= d <= c for d, c in zip(sleeps.delays, ceilings, strict=True))
    assert limited.value.status == 429 and isinstance(limited.value, FlyTransientError)


async def test_a_retry_after_longer_than_the_budget_is_not_slept_through() -> None:
    sleeps = Sleeps()
    recorder = Recorder(error(429, "slow down", {"Retry-After": "600"}))
    fly = make_client(recorder, sleeps, max_retry_after_s=30)
    with pytest.raises(FlyRateLimited) as limited:
        await fly.get("m1")
    assert limited.value.retry_after_s == 600
    assert sleeps.delays == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_retried_then_raised_as_unavailable(status: int) -> None:
    sleeps = Sleeps()
    recorder = Recorder(error(status, "upstream"))
    fly = make_client(recorder, sleeps, max_attempts=3)
    with pytest.raises(FlyUnavailable) as down:
        await fly.list()
    assert down.value.status == status
    assert len(recorder.requests) == 3 and len(sleeps.delays) == 2


async def test_connection_errors_are_retried() -> None:
    recorder = Recorder(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), ok([]))
    fly = make_client(recorder)
    assert await fly.list() == []
    assert len(recorder.requests) == 3


async def test_an_unreachable_api_raises_unavailable_without_leaking_httpx() -> None:
    recorder = Recorder(httpx.ConnectError("refused"))
    fly = make_client(recorder, max_attempts=2)
    with pytest.raises(FlyUnavailable, match="unreachable") as down:
        await fly.get("m1")
    assert down.value.status is None


async def test_a_create_with_a_lost_answer_returns_the_machine_it_made() -> None:
    recorder = Recorder(httpx.ReadTimeout("answer lost"), ok([machine_json("made-it", bot_id="bot-1")]))
    fly = make_client(recorder)
    config = bot_machine_config(bot_id="bot-1", image="img", env={})
    machine = await fly.create(config)
    assert machine.id == "made-it"
    assert [r.method for r in recorder.requests] == ["POST", "GET"]


async def test_a_create_with_a_lost_answer_is_retried_when_nothing_was_made() -> None:
    recorder = Recorder(error(502, "bad gateway"), ok([]), ok(machine_json("second-try")))
    fly = make_client(recorder)
    machine = await fly.create(bot_machine_config(bot_id="bot-1", image="img", env={}))
    assert machine.id == "second-try"
    assert [r.method for r in recorder.requests] == ["POST", "GET", "POST"]


async def test_a_create_without_metadata_is_not_repeated_after_a_lost_answer() -> None:
    recorder = Recorder(error(500, "oops"), ok(machine_json()))
    fly = make_client(recorder)
    with pytest.raises(FlyUnavailable):
        await fly.create(MachineConfig(image="img"))
    assert len(recorder.requests) == 1


async def test_a_rate_limited_create_is_simply_retried() -> None:
    recorder = Recorder(error(429, "slow"), ok(machine_json()))
    fly = make_client(recorder)
    await fly.create(bot_machine_config(bot_id="bot-1", image="img", env={}))
    assert [r.method for r in recorder.requests] == ["POST", "POST"]


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, FlyBadRequest),
        (422, FlyBadRequest),
        (401, FlyAuthError),
        (403, FlyAuthError),
        (404, FlyNotFound),
        (409, FlyConflict),
        (412, FlyConflict),
        (418, FlyPermanentError),
    ],
)
async def test_client_errors_are_permanent_and_not_retried(status: int, kind: type[FlyError]) -> None:
    recorder = Recorder(error(status, "fly says no"))
    fly = make_client(recorder)
    with pytest.raises(kind) as refused:
        await fly.get("m1")
    assert isinstance(refused.value, FlyPermanentError)
    assert len(recorder.requests) == 1
    assert "fly says no" in str(refused.value)
    assert "GET /v1/apps/hmmtrade-bots/machines/m1" in str(refused.value)
    assert TOKEN not in str(refused.value)


async def test_a_non_json_error_body_still_gives_a_readable_message() -> None:
    recorder = Recorder(httpx.Response(404, text="404 page not found\n"))
    fly = make_client(recorder)
    with pytest.raises(FlyNotFound, match="404 page not found"):
        await fly.get("m1")


async def test_delete_missing_ok_treats_a_gone_machine_as_deleted() -> None:
    fly = make_client(Recorder(error(404, "machine not found")))
    await fly.delete("m1", missing_ok=True)
    with pytest.raises(FlyNotFound):
        await fly.delete("m1")


async def test_a_machine_id_cannot_smuggle_a_path() -> None:
    fly = make_client(Recorder(ok()))
    with pytest.raises(ValueError, match="not a Fly machine id"):
        await fly.get("../../apps/other/machines")


def test_no_token_is_refused_up_front() -> None:
    settings = FlySettings(FLY_APP_NAME="app")
    with pytest.raises(FlyAuthError, match="FLY_API_TOKEN"):
        FlyMachines.from_settings(settings, httpx.AsyncClient())


async def test_settings_supply_host_app_and_token() -> None:
    recorder = Recorder(ok([]))
    settings = FlySettings(
        FLY_API_TOKEN="s3cr3t-t0ken", FLY_APP_NAME="bots-eu", FLY_API_HOSTNAME="http://127.0.0.1:4280/"
    )
    fly = FlyMachines.from_settings(settings, httpx.AsyncClient(transport=httpx.MockTransport(recorder)))
    await fly.list()
    [request] = recorder.requests
    assert str(request.url) == "http://127.0.0.1:4280/v1/apps/bots-eu/machines"
    assert request.headers["authorization"] == "Bearer s3cr3t-t0ken"
    assert "s3cr3t" not in repr(settings)


def test_settings_default_to_the_public_machines_api_and_refuse_a_non_url() -> None:
    assert FlySettings().api_hostname == "https://api.machines.dev"
    with pytest.raises(ValueError, match="FLY_API_HOSTNAME must be an http"):
        FlySettings(FLY_API_HOSTNAME="api.machines.dev")


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=7), usegmt=True), now=now) == 7.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=7), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_a_create_that_never_reached_fly_is_retried_without_lookups_and_bounded() -> None:
    recorder = Recorder(httpx.ConnectError("refused"))
    fly = make_client(recorder, max_attempts=3)
    with pytest.raises(FlyUnavailable, match="unreachable"):
        await fly.create(bot_machine_config(bot_id="bot-1", image="img", env={}))
    assert [r.method for r in recorder.requests] == ["POST", "POST", "POST"]


async def test_a_create_whose_answers_keep_getting_lost_gives_up_after_the_budget() -> None:
    recorder = Recorder(lambda r: error(502, "bad gateway") if r.method == "POST" else ok([]))
    fly = make_client(recorder, max_attempts=3)
    with pytest.raises(FlyUnavailable, match="bad gateway"):
        await fly.create(bot_machine_config(bot_id="bot-1", image="img", env={}))
    assert [r.method for r in recorder.requests] == ["POST", "GET", "POST", "GET", "POST"]


async def test_a_garbled_answer_is_a_fly_error_not_a_parsing_crash() -> None:
    fly = make_client(Recorder(httpx.Response(200, text="<html>maintenance</html>")))
    with pytest.raises(FlyUnavailable, match="not JSON"):
        await fly.get("m1")
    fly = make_client(Recorder(ok({"id": "m1"})))
    with pytest.raises(FlyUnavailable, match="not a machine"):
        await fly.get("m1")
    fly = make_client(Recorder(ok({"machines": []})))
    with pytest.raises(FlyUnavailable, match="not a list of machines"):
        await fly.list()
