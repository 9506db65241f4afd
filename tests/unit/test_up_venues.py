"""``hmmtrade up``'s venue emulators: keys made once per data dir and kept off the command line,
the port remembered for hosted bots, and an operator's own venue URL left alone."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from stack.cli import _keys_from_env, _parser
from stack.venue_emulators import ALPACA_KEY_ENV, VenueTarget, alpaca_target, describe, exchange_target

CLI = ["python", "-m", "stack.cli"]
MakeTarget = Callable[[Path, list[str], Mapping[str, str]], VenueTarget]


@pytest.mark.parametrize("make", [alpaca_target, exchange_target])
def test_keys_and_port_are_made_once_per_data_dir_and_kept_off_argv(make: MakeTarget, tmp_path: Path) -> None:
    first = make(tmp_path, CLI, {})
    again = make(tmp_path, CLI, {})
    assert (again.key, again.secret, again.url) == (first.key, first.secret, first.url)
    assert first.key_file is not None and first.key_file.stat().st_mode & 0o777 == 0o600
    assert first.argv is not None and first.key not in first.argv and first.secret not in first.argv
    assert sorted(first.emulator_env.values()) == sorted([first.key, first.secret])
    kind = "emulator; paper" if first.name == "alpaca" else "Binance-spot emulator;"
    assert describe(first) == f"{first.url}  ({kind} keys in {first.key_file})"


def test_a_remembered_port_taken_since_moves_and_says_bots_need_a_restart(tmp_path: Path) -> None:
    target = alpaca_target(tmp_path, CLI, {})
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", int(target.url.rsplit(":", 1)[1])))
        moved = alpaca_target(tmp_path, CLI, {})
    assert moved.url != target.url and (moved.key, moved.secret) == (target.key, target.secret)
    assert "was taken: hosted bots launched before need a stop and start" in describe(moved)
    assert alpaca_target(tmp_path, CLI, {}).url == moved.url  # the new port is the one remembered now


def test_an_operators_own_venue_url_starts_no_emulator(tmp_path: Path) -> None:
    target = alpaca_target(tmp_path, CLI, {"HMMTRADE_ALPACA_URL": "http://alpaca.internal:9000/"})
    assert target.external and target.argv is None and target.key == ""
    assert describe(target) == "http://alpaca.internal:9000  (external)"
    assert not (tmp_path / "keys").exists()


def test_the_emulator_cli_reads_its_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = _parser()
    monkeypatch.setenv(ALPACA_KEY_ENV[0], "PKFROMENV")
    monkeypatch.setenv(ALPACA_KEY_ENV[1], "secret-from-env")
    args = parser.parse_args(["alpaca-emulator", "--port", "0"])
    _keys_from_env(parser, args)
    assert (args.key_id, args.secret_key) == ("PKFROMENV", "secret-from-env")


def test_the_emulator_cli_without_keys_says_which_to_give(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = _parser()
    monkeypatch.delenv("EXCHANGE_EMULATOR_API_KEY", raising=False)
    args = parser.parse_args(["exchange-emulator", "--port", "1", "--api-secret", "s"])
    with pytest.raises(SystemExit) as exited:
        _keys_from_env(parser, args)
    assert exited.value.code == 2
    assert "--api-key (or EXCHANGE_EMULATOR_API_KEY" in capsys.readouterr().err
