"""Benchmark: Stripe webhook ingest and pay-to-tier latency, against a local stack.

1. Webhook ingest: C clients POST correctly signed Stripe events (a type the billing worker
   ignores, so only the bridge is measured) to /api/v1/stripe/webhook. Ceiling, same run: one
   Python process publishing the same bytes to JetStream with ``publish_async``.
2. Pay to tier: users check out one after another, pay on the emulator's Checkout page, and
   poll GET /api/v1/billing until the plan is ``pro`` (webhook -> bridge re-fetches the
   subscription from the emulator -> billing intent -> tier). Baseline, same run and same
   polling: POST /api/v1/bots until its intent is ``done`` (one hop through the bus).

    ./dev bench billing [--events 2000] [--clients 8] [--users 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nats

from bench.http1 import Http1Connection
from bench.intents import PROFILE, percentile
from bench.stack import LocalStack, local_stack
from billing.webhooks import signature_header


def _event(n: int) -> bytes:
    return json.dumps(
        {
            "id": f"evt_bench_{uuid.uuid4().hex[:20]}",
            "object": "event",
            "type": "customer.updated",
            "created": int(time.time()),
            "data": {"object": {"id": f"cus_bench_{n}", "object": "customer", "email": f"b{n}@example.com"}},
            "livemode": False,
        }
    ).encode()


async def _post_raw(conn: Http1Connection, path: str, body: bytes, headers: dict[str, str]) -> int:
    reader, writer = await conn._connect()
    lines = [f"POST {path} HTTP/1.1", f"Host: {conn.host}:{conn.port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def measure_webhooks(stack: LocalStack, secret: str, events: int, clients: int) -> dict[str, Any]:
    bodies = [_event(n) for n in range(events)]
    latencies: list[float] = []
    errors = 0

    async def client(share: list[bytes]) -> None:
        nonlocal errors
        conn = Http1Connection(stack.api_host, stack.api_port)
        for body in share:
            headers = {"Content-Type": "application/json", "Stripe-Signature": signature_header(secret, body)}
            sent = time.perf_counter()
            status = await _post_raw(conn, "/api/v1/stripe/webhook", body, headers)
            latencies.append((time.perf_counter() - sent) * 1000)
            errors += status != 200
        await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(bodies[i::clients]) for i in range(clients)))
    rate = events / (time.perf_counter() - started)

    nc = await nats.connect(stack.nats_url, **stack.nats_options())
    js = nc.jetstream()
    started = time.perf_counter()
    for body in bodies:
        await js.publish_async("stripe.events.bench.raw", body, headers={"Nats-Msg-Id": str(uuid.uuid4())})
    await js.publish_async_completed()
    ceiling = events / (time.perf_counter() - started)
    await nc.close()
    return {
        "webhooks_per_s": round(rate, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "errors": errors,
        "raw_publish_async_per_s": round(ceiling, 1),
        "ratio": round(rate / ceiling, 3),
    }


async def _login(conn: Http1Connection) -> dict[str, str]:
    creds = {"email": f"bench-billing-{uuid.uuid4().hex[:10]}@example.com", "password": "benchmark password"}
    await conn.request("POST", "/api/v1/auth/signup", body=creds)
    status, body = await conn.request("POST", "/api/v1/auth/login", body=creds)
    assert status == 200, body
    return {"Authorization": f"Bearer {body['access_token']}"}


async def _poll(conn: Http1Connection, path: str, headers: dict[str, str], done: Any) -> float:
    while True:
        status, body = await conn.request("GET", path, headers=headers)
        if status == 200 and done(body):
            return time.perf_counter()
        await asyncio.sleep(0.005)


async def measure_pay_to_tier(stack: LocalStack, users: int) -> dict[str, Any]:
    conn = Http1Connection(stack.api_host, stack.api_port)
    tier_ms: list[float] = []
    create_ms: list[float] = []
    for _ in range(users):
        headers = await _login(conn)
        sent = time.perf_counter()
        status, created = await conn.request("POST", "/api/v1/bots", body=PROFILE, headers=headers)
        assert status == 202, created
        done = await _poll(conn, f"/api/v1/intents/{created['intent_id']}", headers, lambda b: b["status"] == "done")
        create_ms.append((done - sent) * 1000)

        status, session = await conn.request("POST", "/api/v1/billing/checkout", body={"plan": "pro"}, headers=headers)
        assert status == 200, session
        url = urlsplit(session["url"])
        payer = Http1Connection(url.hostname or "127.0.0.1", url.port or 80)
        sent = time.perf_counter()
        await payer.request("POST", url.path)
        await payer.close()
        done = await _poll(conn, "/api/v1/billing", headers, lambda b: b["plan"] == "pro")
        tier_ms.append((done - sent) * 1000)
    await conn.close()
    return {
        "pay_to_tier_p50_ms": round(percentile(tier_ms, 50), 1),
        "pay_to_tier_max_ms": round(max(tier_ms), 1),
        "create_to_done_p50_ms": round(percentile(create_ms, 50), 1),
        "create_to_done_max_ms": round(max(create_ms), 1),
        "ratio_p50": round(percentile(tier_ms, 50) / percentile(create_ms, 50), 2),
    }


def _table(row: dict[str, Any]) -> str:
    widths = {k: max(len(k), len(str(v))) for k, v in row.items()}
    return (
        "  ".join(k.rjust(widths[k]) for k in row) + "\n" + "  ".join(str(v).rjust(widths[k]) for k, v in row.items())
    )


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with local_stack({"HMMTRADE_LOGIN_ATTEMPTS_PER_MINUTE": "10000"}) as stack:
        secret = (stack.data_dir / "keys" / "stripe-webhook-secret").read_text().strip()
        printed = (stack.data_dir.parent / "up.out").read_text()
        assert re.search(r"stripe\s+http://\S+\s+\(emulator", printed), "the benchmark needs the Stripe emulator"
        webhooks = await measure_webhooks(stack, secret, args.events, args.clients)
        tiers = await measure_pay_to_tier(stack, args.users)
    return {"webhooks": {"clients": args.clients, "events": args.events, **webhooks}, "pay_to_tier": tiers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--users", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("bench/results/billing.json"))
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    print(_table(result["webhooks"]))
    print("ratio = signed webhooks accepted/s over raw publish_async/s of the same bytes")
    print()
    print(_table({"users": args.users, **result["pay_to_tier"]}))
    print("ratio_p50 = pay-to-tier (webhook, re-fetch, billing intent, tier) over create-to-done (one bus hop)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
