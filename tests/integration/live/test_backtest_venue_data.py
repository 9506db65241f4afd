"""``hmmtrade backtest --data alpaca:SPY``: history through the live adapter, cached, same engine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from stack.backtest_cmd import run_backtest_command
from venues.alpaca import AlpacaEmulator

KEY, SECRET = "PKBACKTEST0123456789", "backtest-secret-0123456789abcdef"


def test_a_backtest_on_alpaca_history_downloads_once_then_reads_its_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = AlpacaEmulator(
        key_id=KEY, secret_key=SECRET, speed=0.0, start=datetime(2026, 3, 2, 21, 30, tzinfo=UTC)
    ).start()
    monkeypatch.setenv("HMMTRADE_ALPACA_URL", emulator.url)
    monkeypatch.setenv("HMMTRADE_BARS_CACHE", str(tmp_path / "cache"))
    profile = Path("examples/bot.json").resolve()
    try:
        code = run_backtest_command(
            "alpaca:SPY",
            profile,
            tmp_path / "one",
            bot_id="bt",
            walk_forward=False,
            start=None,
            end=datetime(2026, 3, 2).date(),
            key_id=KEY,
            secret_key=SECRET,
        )
        assert code == 0, capsys.readouterr().err
    finally:
        emulator.stop()
    [cached] = (tmp_path / "cache").glob("alpaca-SPY-1d-*.csv")
    first = capsys.readouterr().out
    assert first.startswith("alpaca:SPY: ") and "decisions" in first
    # the emulator is gone: the same backtest again reads the cache and gives the same figures
    code = run_backtest_command(
        "alpaca:SPY",
        profile,
        tmp_path / "two",
        bot_id="bt",
        walk_forward=False,
        start=None,
        end=datetime(2026, 3, 2).date(),
        key_id=KEY,
        secret_key=SECRET,
    )
    assert code == 0
    assert capsys.readouterr().out.replace("two", "one") == first
    assert cached.exists()


def test_venue_history_without_keys_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = run_backtest_command(
        "alpaca:SPY", Path("examples/bot.json"), tmp_path, bot_id="bt", walk_forward=False, start=None, end=None
    )
    assert code == 2 and "--key-id" in capsys.readouterr().err


def test_a_malformed_venue_spec_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = run_backtest_command(
        "ccxt:binance",
        Path("examples/bot.json"),
        tmp_path,
        bot_id="bt",
        walk_forward=False,
        start=None,
        end=None,
        key_id="k",
        secret_key="s",
    )
    assert code == 2 and "ccxt:EXCHANGE:BASE/QUOTE" in capsys.readouterr().err
