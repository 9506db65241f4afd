"""A bot's own ``/metrics`` (loopback listener from ``HMMTRADE_BOT_METRICS_PORT``) while it trades."""

from __future__ import annotations

from pathlib import Path

import httpx

from events.embedded import NatsServer, free_port
from tests.bars_data import make_instance, write_bars_csv
from tests.botproc import BotProcess
from tests.metricsutil import TOKEN, scrape, value


async def test_a_running_bot_counts_its_ticks_and_decision_time(tmp_path: Path, nats_server: NatsServer) -> None:
    data = write_bars_csv(tmp_path / "bars.csv", 400)
    _bot_id, config = make_instance(tmp_path / "home", data)
    port = free_port()
    env = {"NATS_URL": nats_server.url, "HMMTRADE_BOT_METRICS_PORT": str(port), "HMMTRADE_METRICS_TOKEN": TOKEN}
    bot = BotProcess(config, "--pace", "40", env=env)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        assert bot.read_until_seq(5)
        async with httpx.AsyncClient() as scraper:
            assert (await scraper.get(url)).status_code == 401
            first = await scrape(scraper, url)
            assert value(first, "hmmtrade_bot_ticks_total") >= 5
            assert bot.read_until_seq(int(value(first, "hmmtrade_bot_ticks_total")) + 3)
            second = await scrape(scraper, url)
    finally:
        code, err = bot.terminate()
    assert code == 0, err
    assert value(second, "hmmtrade_bot_ticks_total") >= value(first, "hmmtrade_bot_ticks_total") + 3
    bars = value(second, "hmmtrade_bot_bars_total")
    assert bars > value(second, "hmmtrade_bot_ticks_total")  # the warm-up bars decide nothing
    assert value(second, "hmmtrade_bot_decision_duration_seconds_count") == bars
    assert value(second, "hmmtrade_bot_last_tick_timestamp_seconds") > 0
    assert ("hmmtrade_bot_audit_pending_bytes", ()) in second  # its outbox, on the bus path
