"""The ``hmmtrade`` command."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import date, datetime
from pathlib import Path

from stack.incidents_args import add_incident_commands
from stack.logging import configure_logging
from trader.cli import add_run_arguments

TIERS = ("free", "pro", "team")

DEFAULT_DATA_DIR = Path(".hmmtrade")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hmmtrade", description="HMM Trade: regime-detection trading bots.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole system locally on embedded defaults")
    up.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where NATS, Postgres and keys live")
    up.add_argument("--api-host", default="127.0.0.1")
    up.add_argument("--api-port", type=int, default=8000)
    up.add_argument("--web-port", type=int, default=8080, help="the web app's port (a free one if taken)")
    up.add_argument("--no-demo", action="store_true", help="don't seed the demo user and bot")
    up.add_argument(
        "--nats-cluster", type=int, default=1, metavar="N", help="run the bus as an N-node cluster, streams R3 (try 3)"
    )

    api = sub.add_parser("api", help="run the control-plane API only (NATS_URL, DATABASE_URL)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)

    sub.add_parser("workers", help="run the FastStream workers only (NATS_URL, DATABASE_URL)")

    web = sub.add_parser("web", help="run the cloud web app (HMMTRADE_API_URL, NATS_URL, HMMTRADE_WEB_NATS_CREDS)")
    web.add_argument("--host", default="127.0.0.1")
    web.add_argument("--port", type=int, default=8080)

    mig = sub.add_parser("migrate", help="apply database migrations")
    mig.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="embedded Postgres location when DATABASE_URL is unset"
    )

    bus = sub.add_parser("bus", help="the bus's identities for a deployment")
    bus_sub = bus.add_subparsers(dest="bus_command", required=True)
    bus_init = bus_sub.add_parser("init", help="signing keys, server config and role credentials (compose.yaml)")
    bus_init.add_argument("--dir", type=Path, default=Path("secrets/bus"), help="where to write (default secrets/bus)")
    bus_init.add_argument(
        "--cluster", type=int, default=0, metavar="N", help="also write nats-1.conf .. nats-N.conf (an N-node cluster)"
    )
    bus_init.add_argument(
        "--tls-host", action="append", default=[], help="make a private CA and a certificate for this name (repeat)"
    )
    sub.add_parser("schemas", help="regenerate contracts/schemas (JSON Schema + AsyncAPI)")

    bt = sub.add_parser("backtest", help="walk-forward backtest of a bot profile; writes audit.jsonl and metrics.json")
    bt.add_argument(
        "--data",
        default=None,
        help="sp500 (the default), nasdaq, a CSV/Parquet file (date,open,high,low,close,volume), or a venue's daily "
        "history: alpaca:SPY, alpaca:BTC/USD, ccxt:binance:BTC/USDT (downloaded once, then cached); a portfolio "
        "profile (several symbols) reads each symbol's bars from its market section: leave it out",
    )
    bt.add_argument("--key-id", help="the venue's API key for alpaca:/ccxt: data (default: $APCA_API_KEY_ID)")
    bt.add_argument("--secret-key", help="the venue's API secret (default: $APCA_API_SECRET_KEY)")
    bt.add_argument("--profile", type=Path, default=Path("examples/bot.json"), help="the wizard profile (JSON or YAML)")
    bt.add_argument(
        "--walk-forward", action="store_true", help="refit on the profile's schedule (default: fit once, then filter)"
    )
    bt.add_argument("--from", dest="start", type=_iso_date, help="first decision (earlier bars train the model)")
    bt.add_argument("--to", dest="end", type=_iso_date, help="last bar used")
    bt.add_argument(
        "--holdout-from",
        type=_iso_date,
        help="keep the bars from this date on unseen: neither run nor reported (judge the final choice on them once)",
    )
    bt.add_argument(
        "--reveal-holdout",
        action="store_true",
        help="with --holdout-from: run through the holdout and report in-sample and holdout metrics apart",
    )
    bt.add_argument("--out", type=Path, default=Path("backtests/latest"), help="folder for the results")
    bt.add_argument("--bot-id", default="backtest", help="used in client order ids")

    users = sub.add_parser("users", help="operator commands on user accounts (DATABASE_URL or --data-dir)")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    tier = users_sub.add_parser("set-tier", help="set a user's plan tier (free, pro, team)")
    tier.add_argument("email")
    tier.add_argument("tier", choices=TIERS)
    tier.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="embedded Postgres when DATABASE_URL is unset"
    )

    add_incident_commands(sub, DEFAULT_DATA_DIR)

    bot = sub.add_parser("bot", help="run one bot (what the local agent and a hosted VM start)")
    bot_sub = bot.add_subparsers(dest="bot_command", required=True)
    run = bot_sub.add_parser("run", help="run a bot from config/instances/<id>.yaml, resuming from its checkpoint")
    add_run_arguments(run)
    kms = sub.add_parser("kms-emulator", help="run the local Cloud KMS emulator (REST wire format)")
    kms.add_argument("--host", default="127.0.0.1")
    kms.add_argument("--port", type=int, default=8470)
    kms.add_argument(
        "--key-file",
        type=Path,
        default=DEFAULT_DATA_DIR / "kms" / "keys.json",
        help="key material (kept out of Postgres)",
    )
    kms.add_argument(
        "--key",
        action="append",
        default=None,
        help="crypto key to create if missing (repeatable; default: KMS_KEY_NAME or the local default)",
    )

    ex = sub.add_parser("exchange-emulator", help="run the local Binance-spot-compatible exchange emulator")
    ex.add_argument("--host", default="127.0.0.1")
    ex.add_argument("--port", type=int, required=True)
    ex.add_argument("--api-key", help="the key clients send as X-MBX-APIKEY (default: $EXCHANGE_EMULATOR_API_KEY)")
    ex.add_argument(
        "--api-secret", help="the HMAC secret requests are signed with (default: $EXCHANGE_EMULATOR_API_SECRET)"
    )
    ex.add_argument("--data-dir", type=Path, default=None, help="keeps balances, orders and the clock across restarts")
    ex.add_argument("--source", default="synthetic", help="sp500, nasdaq, synthetic or a CSV file of daily bars")
    ex.add_argument("--speed", type=float, default=1.0, help="sim seconds per wall second (0 freezes the clock)")
    ex.add_argument("--start", type=_iso_datetime, default=None, help="sim start time, ISO 8601 UTC (default: now)")
    ex.add_argument("--seed", type=int, default=7)
    ex.add_argument("--balance", type=float, default=100_000, help="starting USDT balance")

    vault = sub.add_parser("vault", help="broker-secret and machine-identity maintenance (KMS_*, DATABASE_URL)")
    vault_sub = vault.add_subparsers(dest="vault_command", required=True)
    vault_sub.add_parser("rewrap", help="re-wrap every stored data key under the KMS key's primary version")
    vault_sub.add_parser("rotate-machine-key", help="start signing machine JWTs with a new key (old one overlaps)")
    fe = sub.add_parser("fly-emulator", help="run the local Fly Machines API emulator (FLY_API_TOKEN, FLY_APP_NAME)")
    fe.add_argument("--host", default="127.0.0.1")
    fe.add_argument("--port", type=int, default=4280)
    fe.add_argument("--data-dir", type=Path, default=None, help="keeps machines and logs across restarts")
    fe.add_argument("--images", type=Path, default=None, help="JSON table: image reference -> entrypoint/cmd")
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
    tr.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="`hmmtrade up`'s data dir, for the emulator's key when STRIPE_SECRET_KEY is unset",
    )

    al = sub.add_parser("alpaca-emulator", help="run the local Alpaca (trading + market data REST, both streams)")
    al.add_argument("--host", default="127.0.0.1")
    al.add_argument("--port", type=int, default=8490, help="0 picks a free port (printed)")
    al.add_argument("--key-id", help="the APCA-API-KEY-ID clients must send (default: $ALPACA_EMULATOR_KEY_ID)")
    al.add_argument(
        "--secret-key", help="the APCA-API-SECRET-KEY clients must send (default: $ALPACA_EMULATOR_SECRET_KEY)"
    )
    al.add_argument("--data-dir", type=Path, default=None, help="keeps orders, positions and the clock across restarts")
    al.add_argument("--source", default="synthetic", help="sp500 | nasdaq | synthetic | a CSV file (date,o,h,l,c,v)")
    al.add_argument("--speed", type=float, default=1.0, help="sim seconds per wall second; 0 freezes the clock")
    al.add_argument("--start", default=None, help="sim start, ISO 8601 (default: the last XNYS session open)")
    al.add_argument("--seed", type=int, default=7)
    al.add_argument("--cash", type=float, default=100_000.0)

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


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2008-09-15") from None


def _iso_datetime(text: str) -> datetime:
    from stack.exchange_cmd import iso_datetime

    try:
        return iso_datetime(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time like 2026-03-02T12:00:00Z") from None


def _keys_from_env(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """An emulator's keys from its flags, else from the environment: ``hmmtrade up`` passes them there,
    because a command line is visible to every local user in ``ps``."""
    from stack.venue_emulators import ALPACA_KEY_ENV, EXCHANGE_KEY_ENV

    names = {
        "alpaca-emulator": zip(("key_id", "secret_key"), ALPACA_KEY_ENV, strict=True),
        "exchange-emulator": zip(("api_key", "api_secret"), EXCHANGE_KEY_ENV, strict=True),
    }
    for attribute, env_name in names.get(args.command, ()):
        value = getattr(args, attribute) or os.environ.get(env_name, "")
        if not value:
            parser.error(f"{args.command} needs --{attribute.replace('_', '-')} (or {env_name} in the environment)")
        setattr(args, attribute, value)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in ("alpaca-emulator", "exchange-emulator"):
        _keys_from_env(parser, args)
    json_lines = True if os.environ.get("HMMTRADE_LOG_JSON") == "1" else None
    configure_logging(json_lines=json_lines, service=args.command)
    if args.command == "up":
        from stack.up import run_up

        if args.nats_cluster < 1:
            parser.error(f"--nats-cluster must be 1 or more, not {args.nats_cluster}")
        return run_up(
            args.data_dir,
            api_host=args.api_host,
            api_port=args.api_port,
            demo=not args.no_demo,
            web_port=args.web_port,
            nats_cluster=args.nats_cluster,
        )
    if args.command == "api":
        from stack.services import serve_api

        serve_api(args.host, args.port)
        return 0
    if args.command == "web":
        from web.app import main as web_main

        return web_main(args.port, args.host)
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

        return run_backtest_command(
            args.data,
            args.profile,
            args.out,
            bot_id=args.bot_id,
            walk_forward=args.walk_forward,
            start=args.start,
            end=args.end,
            holdout_from=args.holdout_from,
            reveal_holdout=args.reveal_holdout,
            key_id=args.key_id,
            secret_key=args.secret_key,
        )
    if args.command == "users":
        from stack.users_cmd import run_set_tier

        return run_set_tier(args.email, args.tier, data_dir=args.data_dir)
    if args.command == "incidents":
        from stack.incidents_cmd import run_incidents

        return run_incidents(args)
    if args.command == "bot":
        from trader.cli import run_bot_command

        return run_bot_command(
            args.config, once=args.once, max_bars=args.max_bars, pace=args.pace, max_decisions=args.max_decisions
        )
    if args.command == "kms-emulator":
        from api.settings import ApiSettings
        from stack.vault_cmd import run_kms_emulator

        keys = args.key or [ApiSettings().kms_key_name]
        return run_kms_emulator(args.key_file, host=args.host, port=args.port, keys=keys)
    if args.command == "exchange-emulator":
        from stack.exchange_cmd import run_exchange_emulator

        return run_exchange_emulator(
            host=args.host,
            port=args.port,
            api_key=args.api_key,
            api_secret=args.api_secret,
            data_dir=args.data_dir,
            source=args.source,
            speed=args.speed,
            start=args.start,
            seed=args.seed,
            balance=args.balance,
        )
    if args.command == "vault":
        from api.settings import ApiSettings
        from stack.vault_cmd import run_rewrap, run_rotate_machine_key

        if args.vault_command == "rewrap":
            return run_rewrap(ApiSettings())
        return run_rotate_machine_key(ApiSettings())
    if args.command == "fly-emulator":
        from stack.fly_local import run_fly_emulator

        return run_fly_emulator(host=args.host, port=args.port, data_dir=args.data_dir, images=args.images)
    if args.command == "stripe-emulator":
        from stack.stripe_cmd import run_emulator, trigger

        if args.emulator_command == "trigger":
            return trigger(args.event, args.email, args.plan, args.emulator, data_dir=args.data_dir)
        return run_emulator(args.host, args.port, args.webhook_url, args.state_file)

    if args.command == "alpaca-emulator":
        from stack.venue_cmd import run_alpaca_emulator

        return run_alpaca_emulator(
            host=args.host,
            port=args.port,
            key_id=args.key_id,
            secret_key=args.secret_key,
            data_dir=args.data_dir,
            source=args.source,
            speed=args.speed,
            start=args.start,
            seed=args.seed,
            cash=args.cash,
        )

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
    if args.command == "bus":
        from stack.bus_cmd import run_bus_init

        return run_bus_init(args.dir, args.tls_host, args.cluster)
    if args.command == "schemas":
        from contracts.generate import write_schemas

        for path in write_schemas():
            print(path)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
