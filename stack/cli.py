"""The ``hmmtrade`` command."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from stack.logging import configure_logging

DEFAULT_DATA_DIR = Path(".hmmtrade")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hmmtrade", description="HMM Trade: regime-detection trading bots.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole system locally on embedded defaults")
    up.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where NATS, Postgres and keys live")
    up.add_argument("--api-host", default="127.0.0.1")
    up.add_argument("--api-port", type=int, default=8000)
    up.add_argument("--no-demo", action="store_true", help="don't seed the demo user and bot")

    api = sub.add_parser("api", help="run the control-plane API only (NATS_URL, DATABASE_URL)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)

    sub.add_parser("workers", help="run the FastStream workers only (NATS_URL, DATABASE_URL)")

    mig = sub.add_parser("migrate", help="apply database migrations")
    mig.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="embedded Postgres location when DATABASE_URL is unset"
    )

    sub.add_parser("schemas", help="regenerate contracts/schemas (JSON Schema + AsyncAPI)")

    bt = sub.add_parser("backtest", help="walk-forward backtest of a bot profile; writes audit.jsonl and metrics.json")
    bt.add_argument("--data", default="sp500", help="sp500, nasdaq, or a CSV file (date,open,high,low,close,volume)")
    bt.add_argument("--profile", type=Path, default=Path("examples/bot.json"), help="the wizard profile (JSON)")
    bt.add_argument("--out", type=Path, default=Path("backtests/latest"), help="folder for the results")
    bt.add_argument("--bot-id", default="backtest", help="used in client order ids")

    bot = sub.add_parser("bot", help="run one bot (what the local agent and a hosted VM start)")
    bot_sub = bot.add_subparsers(dest="bot_command", required=True)
    run = bot_sub.add_parser("run", help="run a bot from config/instances/<id>.yaml, resuming from its checkpoint")
    run.add_argument("--config", type=Path, required=True, help="the instance YAML (bot_id + profile)")
    run.add_argument("--once", action="store_true", help="process the bars that are due, then exit (scale-to-zero)")
    run.add_argument("--max-bars", type=_positive_int, default=None, help="take at most N new bars in this run")
    run.add_argument(
        "--pace", type=float, default=None, help="decision bars per second when replaying (default 0: full speed)"
    )

    ag = sub.add_parser("agent", help="the local agent: supervisor of your bots and the dashboard")
    ag.add_argument("--port", type=int, default=5006, help="dashboard port on 127.0.0.1")
    ag.add_argument("--home", type=Path, default=Path("."), help="holds config/instances/, state and logs")
    ag.add_argument("--api-url", default="http://127.0.0.1:8000", help="the cloud API for login and sync")
    ag.add_argument("--sync-every", type=float, default=10.0, help="seconds between cloud sync passes")

    lg = sub.add_parser("login", help="log in to the cloud; the token is cached in your user config dir (0600)")
    lg.add_argument("--api-url", default="http://127.0.0.1:8000")
    lg.add_argument("--email", required=True)
    lg.add_argument("--password-stdin", action="store_true", help="read the password from stdin (scripts)")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    json_lines = True if os.environ.get("HMMTRADE_LOG_JSON") == "1" else None
    configure_logging(json_lines=json_lines, service=args.command)
    if args.command == "up":
        from stack.up import run_up

        return run_up(args.data_dir, api_host=args.api_host, api_port=args.api_port, demo=not args.no_demo)
    if args.command == "api":
        from stack.services import serve_api

        serve_api(args.host, args.port)
        return 0
    if args.command == "workers":
        from stack.services import serve_workers

        serve_workers()
        return 0
    if args.command == "migrate":
        from store.embedded import start_embedded_postgres
        from store.migrate import migrate

        dsn = os.environ.get("DATABASE_URL") or start_embedded_postgres(args.data_dir.resolve() / "postgres")[0]
        applied = asyncio.run(migrate(dsn))
        print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
        return 0
    if args.command == "backtest":
        from stack.backtest_cmd import run_backtest_command

        return run_backtest_command(args.data, args.profile, args.out, bot_id=args.bot_id)
    if args.command == "bot":
        from stack.bot_cmd import run_bot_command

        return run_bot_command(args.config, once=args.once, max_bars=args.max_bars, pace=args.pace)

    if args.command == "agent":
        from agent.runtime import AgentSettings
        from agent.runtime import main as agent_main

        return agent_main(
            AgentSettings(
                home=args.home,
                port=args.port,
                nats_url=os.environ.get("NATS_URL"),
                sync_interval_s=args.sync_every,
                api_url=args.api_url,
            )
        )
    if args.command == "login":
        from agent.login_cmd import login_command

        return login_command(args.api_url, args.email, password_stdin=args.password_stdin)
    if args.command == "schemas":
        from contracts.generate import write_schemas

        for path in write_schemas():
            print(path)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
