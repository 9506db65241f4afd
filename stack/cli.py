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

    se = sub.add_parser("stripe-emulator", help="run the local Stripe emulator, or trigger one event on it")
    se.add_argument("--host", default="127.0.0.1")
    se.add_argument("--port", type=int, default=12111)
    se.add_argument("--webhook-url", help="where to send signed webhooks (secret: STRIPE_WEBHOOK_SECRET)")
    se.add_argument("--state-file", type=Path, help="keep the emulator's objects across restarts")
    se_sub = se.add_subparsers(dest="emulator_command")
    tr = se_sub.add_parser("trigger", help="fire one event, like `stripe trigger`")
    tr.add_argument("event", help="checkout.session.completed, customer.subscription.updated|deleted, invoice.paid, …")
    tr.add_argument("--email", required=True, help="the customer (an HMM Trade user's email)")
    tr.add_argument("--plan", default="pro", choices=["pro", "team"])
    tr.add_argument("--emulator", help="the emulator's URL (default: STRIPE_API_BASE or port 12111)")
    return parser


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
    if args.command == "stripe-emulator":
        from stack.stripe_cmd import run_emulator, trigger

        if args.emulator_command == "trigger":
            return trigger(args.event, args.email, args.plan, args.emulator)
        return run_emulator(args.host, args.port, args.webhook_url, args.state_file)
    if args.command == "schemas":
        from contracts.generate import write_schemas

        for path in write_schemas():
            print(path)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
