"""The emulator's HTTP server: Stripe's v1 routes, the hosted pages, and test controls.

Stripe routes (``Authorization: Bearer <secret key>``, form-encoded bodies, an
``Idempotency-Key`` on POSTs replays the first answer)::

    POST /v1/customers                 GET /v1/customers/{id}
    POST /v1/customers/{id}/balance_transactions      GET /v1/customers/{id}/balance_transactions
    POST /v1/checkout/sessions         GET /v1/checkout/sessions/{id}
    POST /v1/billing_portal/sessions
    GET  /v1/subscriptions/{id}        POST /v1/subscriptions/{id}    DELETE /v1/subscriptions/{id}
    GET  /v1/events                    GET /v1/events/{id}

Pages a browser (or a test) visits: ``GET /checkout/{id}`` shows the payment page and
``POST /checkout/{id}`` pays (then redirects to ``success_url``); ``GET /portal/{id}``
lists the subscriptions and ``POST /portal/{id}/cancel?subscription=…`` cancels one.
Controls (the same ``Authorization: Bearer <secret key>``): ``POST /_emulator/trigger
{"event", "email", "plan"}``, ``GET /_emulator/deliveries``. They need the key because
loopback is no boundary for a browser: any page a developer visits can send a ``text/plain``
POST here without a CORS preflight, but not one with an ``Authorization`` header.
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from billing.emulator.balances import CustomerBalances
from billing.emulator.state import EmulatorError, Json, StripeState
from billing.emulator.webhook_sender import WebhookSender
from billing.emulator.wire import decode_form
from billing.settings import EMULATOR_SECRET_KEY

Route = Callable[["StripeEmulator", dict[str, str], Json], tuple[int, Json]]


class StripeEmulator:
    """Owns the state, the HTTP server (its own thread) and the webhook sender."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        secret_key: str = EMULATOR_SECRET_KEY,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        max_delivery_attempts: int = 8,
        state_file: Path | None = None,
    ) -> None:
        self.state = StripeState()
        self.balances = CustomerBalances(self.state)
        self._state_file = state_file
        # idempotency key -> (request fingerprint, status, body); Stripe keeps keys for 24 hours
        self._idempotent: dict[str, tuple[str, int, Json]] = {}
        if state_file is not None and state_file.exists():
            saved = json.loads(state_file.read_text())
            self.state.restore(saved)
            # a key replays after a restart too, or a retried credit would credit twice
            self._idempotent.update({k: (v[0], int(v[1]), v[2]) for k, v in (saved.get("idempotency") or {}).items()})
        self.secret_key = secret_key
        self.sender = WebhookSender(webhook_url, webhook_secret, max_attempts=max_delivery_attempts)
        self.state.on_event = self.sender.enqueue
        self._idempotency_lock = threading.Lock()
        self._lose_responses = 0
        self.outage = False  # while True every /v1 request answers 503, as in a Stripe incident
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, idempotency key)
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="stripe-emulator", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StripeEmulator:
        self._thread.start()
        self.sender.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.sender.stop()

    def persist(self) -> None:
        """Write the state file (if any) atomically; called after every change."""
        if self._state_file is None:
            return
        with self._idempotency_lock:
            tmp = self._state_file.with_suffix(".tmp")
            idempotency = {key: list(answer) for key, answer in self._idempotent.items()}
            tmp.write_text(json.dumps({**self.state.snapshot(), "idempotency": idempotency}))
            tmp.replace(self._state_file)

    def lose_next_responses(self, count: int) -> None:
        """Do the next ``count`` POSTs' work but answer 500, as if the response was lost on the way."""
        self._lose_responses = count

    def event(self, event_id: str) -> Json:
        return self.state.get("event", event_id)

    def events_of(self, event_type: str) -> list[Json]:
        return [e for e in self.state.events if e["type"] == event_type]

    # ---- dispatch ---------------------------------------------------------------------

    def handle_api(self, method: str, path: str, params: Json, idempotency_key: str | None) -> tuple[int, Json]:
        route, args = _match(method, path)
        if route is None:
            raise EmulatorError(404, f"Unrecognized request URL ({method} {path}).")
        if method != "POST" or idempotency_key is None:
            result: tuple[int, Json] = route(self, args, params)
            return result
        fingerprint = hashlib.sha256(f"{method} {path} {json.dumps(params, sort_keys=True)}".encode()).hexdigest()
        with self._idempotency_lock:  # one request per key at a time, like Stripe's lock
            cached = self._idempotent.get(idempotency_key)
            if cached is not None:
                if cached[0] != fingerprint:
                    raise EmulatorError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters they were first "
                        "used with.",
                        type_="idempotency_error",
                    )
                return cached[1], {**cached[2], "_replayed": True}
            try:
                status, body = route(self, args, params)
            except EmulatorError as exc:
                if exc.status < 500:
                    self._idempotent[idempotency_key] = (fingerprint, exc.status, exc.body())
                raise
            self._idempotent[idempotency_key] = (fingerprint, status, body)
            return status, body

    def take_lost_response(self) -> bool:
        if self._lose_responses > 0:
            self._lose_responses -= 1
            return True
        return False

    # ---- routes -----------------------------------------------------------------------

    def _create_customer(self, _args: dict[str, str], params: Json) -> tuple[int, Json]:
        return 200, self.state.create_customer(params)

    def _get_customer(self, args: dict[str, str], _params: Json) -> tuple[int, Json]:
        return 200, self.state.get("customer", args["id"])

    def _create_balance_transaction(self, args: dict[str, str], params: Json) -> tuple[int, Json]:
        return 200, self.balances.create(args["id"], params)

    def _list_balance_transactions(self, args: dict[str, str], params: Json) -> tuple[int, Json]:
        return 200, self.balances.list(args["id"], params)

    def _create_checkout(self, _args: dict[str, str], params: Json) -> tuple[int, Json]:
        return 200, self.state.create_checkout_session(params, self.url)

    def _get_checkout(self, args: dict[str, str], _params: Json) -> tuple[int, Json]:
        session = self.state.get("checkout.session", args["id"])
        return 200, {k: v for k, v in session.items() if not k.startswith("_")}

    def _create_portal(self, _args: dict[str, str], params: Json) -> tuple[int, Json]:
        return 200, self.state.create_portal_session(params, self.url)

    def _get_subscription(self, args: dict[str, str], _params: Json) -> tuple[int, Json]:
        return 200, self.state.get("subscription", args["id"])

    def _update_subscription(self, args: dict[str, str], params: Json) -> tuple[int, Json]:
        return 200, self.state.update_subscription(args["id"], params)

    def _cancel_subscription(self, args: dict[str, str], _params: Json) -> tuple[int, Json]:
        return 200, self.state.cancel_subscription(args["id"])

    def _list_events(self, _args: dict[str, str], params: Json) -> tuple[int, Json]:
        try:
            limit = int(params.get("limit", 10))
        except ValueError:
            raise EmulatorError(400, "Invalid integer: limit", param="limit") from None
        if not 1 <= limit <= 100:
            raise EmulatorError(400, "limit must be between 1 and 100.", param="limit")
        return 200, self.state.list_events(
            limit=limit, event_type=params.get("type"), starting_after=params.get("starting_after")
        )

    def _get_event(self, args: dict[str, str], _params: Json) -> tuple[int, Json]:
        return 200, self.state.get("event", args["id"])


_ROUTES: list[tuple[str, list[str], Route]] = [
    ("POST", ["v1", "customers"], StripeEmulator._create_customer),
    ("GET", ["v1", "customers", "{id}"], StripeEmulator._get_customer),
    ("POST", ["v1", "customers", "{id}", "balance_transactions"], StripeEmulator._create_balance_transaction),
    ("GET", ["v1", "customers", "{id}", "balance_transactions"], StripeEmulator._list_balance_transactions),
    ("POST", ["v1", "checkout", "sessions"], StripeEmulator._create_checkout),
    ("GET", ["v1", "checkout", "sessions", "{id}"], StripeEmulator._get_checkout),
    ("POST", ["v1", "billing_portal", "sessions"], StripeEmulator._create_portal),
    ("GET", ["v1", "subscriptions", "{id}"], StripeEmulator._get_subscription),
    ("POST", ["v1", "subscriptions", "{id}"], StripeEmulator._update_subscription),
    ("DELETE", ["v1", "subscriptions", "{id}"], StripeEmulator._cancel_subscription),
    ("GET", ["v1", "events"], StripeEmulator._list_events),
    ("GET", ["v1", "events", "{id}"], StripeEmulator._get_event),
]


def _match(method: str, path: str) -> tuple[Any, dict[str, str]]:
    parts = [p for p in path.split("/") if p]
    for route_method, pattern, route in _ROUTES:
        if route_method != method or len(pattern) != len(parts):
            continue
        args: dict[str, str] = {}
        for want, got in zip(pattern, parts, strict=True):
            if want == "{id}":
                args["id"] = got
            elif want != got:
                break
        else:
            return route, args
    return None, {}


class _Handler(BaseHTTPRequestHandler):
    emulator: StripeEmulator
    protocol_version = "HTTP/1.1"
    server_version = "stripe-emulator"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the emulator's callers log what matters."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        try:
            if url.path.startswith("/v1/"):
                self._api(method, url.path, url.query, body)
            elif url.path.startswith("/checkout/"):
                self._checkout_page(method, url.path.split("/")[2])
            elif url.path.startswith("/portal/"):
                self._portal_page(method, url.path.split("/"), parse_qs(url.query))
            elif url.path.startswith("/_emulator/") and not self._has_key():
                raise EmulatorError(401, "The emulator's controls need 'Authorization: Bearer <its secret key>'.")
            elif url.path == "/_emulator/trigger" and method == "POST":
                request = json.loads(body or "{}")
                ids = self.emulator.state.trigger(
                    str(request.get("event")),
                    email=str(request.get("email")),
                    plan=str(request.get("plan") or "pro"),
                )
                self._json(200, {"events": ids})
            elif url.path == "/_emulator/deliveries" and method == "GET":
                self._json(200, {"deliveries": [vars(d) for d in self.emulator.sender.deliveries]})
            else:
                raise EmulatorError(404, f"Unrecognized request URL ({method} {url.path}).")
            if method != "GET":
                self.emulator.persist()
        except EmulatorError as exc:
            self._json(exc.status, exc.body())
        except (ValueError, KeyError) as exc:
            self._json(400, EmulatorError(400, f"Invalid request: {exc}").body())

    def _sent_key(self) -> str:
        auth = self.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""

    def _has_key(self) -> bool:
        return secrets.compare_digest(self._sent_key().encode(), self.emulator.secret_key.encode())

    def _api(self, method: str, path: str, query: str, body: str) -> None:
        if not self._has_key():
            key = self._sent_key()
            shown = f"{key[:8]}{'*' * 4}" if key else "(none)"
            raise EmulatorError(401, f"Invalid API Key provided: {shown}")
        params = decode_form(query if method in ("GET", "DELETE") and not body else body)
        idempotency_key = self.headers.get("Idempotency-Key")
        self.emulator.requests.append((method, path, idempotency_key))
        if self.emulator.outage:
            raise EmulatorError(503, "Stripe is temporarily unavailable.", type_="api_error")
        status, payload = self.emulator.handle_api(method, path, params, idempotency_key)
        replayed = bool(payload.pop("_replayed", False))
        if method == "POST" and self.emulator.take_lost_response():
            self._json(500, EmulatorError(500, "An unknown error occurred", type_="api_error").body())
            return
        self._json(status, payload, replayed=replayed)

    def _checkout_page(self, method: str, session_id: str) -> None:
        state = self.emulator.state
        session = state.get("checkout.session", session_id)
        if method == "POST":
            if session["status"] == "open":
                state.complete_checkout(session_id)
            self._redirect(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id))
            return
        price = state.prices[session["_price"]]
        amount = f"${price['unit_amount'] / 100:.2f} / month"
        self._html(
            f"<h1>Stripe emulator checkout</h1><p>{html.escape(price['product'])}: {amount}</p>"
            f"<p>Status: {html.escape(session['status'])}</p>"
            f'<form method="post"><button type="submit">Pay</button></form>'
        )

    def _portal_page(self, method: str, parts: list[str], query: dict[str, list[str]]) -> None:
        session = self.emulator.state.portal_sessions.get(parts[2])
        if session is None:
            raise EmulatorError(404, f"No such billing portal session: '{parts[2]}'")
        if method == "POST" and len(parts) > 3 and parts[3] == "cancel":
            sub_id = (query.get("subscription") or [""])[0]
            sub = self.emulator.state.get("subscription", sub_id)
            if sub["customer"] != session["customer"]:
                raise EmulatorError(404, f"No such subscription: '{sub_id}'")
            self.emulator.state.cancel_subscription(sub_id)
            self._redirect(session["return_url"] or "/")
            return
        rows = "".join(
            f'<li>{html.escape(s["id"])} ({html.escape(s["status"])}) <form method="post" '
            f'action="/portal/{parts[2]}/cancel?subscription={s["id"]}"><button>Cancel</button></form></li>'
            for s in self.emulator.state.live_subscriptions(session["customer"])
        )
        self._html(f"<h1>Stripe emulator billing portal</h1><ul>{rows}</ul>")

    def _json(self, status: int, payload: Json, *, replayed: bool = False) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_{secrets.token_hex(8)}")
        if replayed:
            self.send_header("Idempotent-Replayed", "true")
        self.end_headers()
        self.wfile.write(data)

    def _html(self, body: str) -> None:
        data = f"<!doctype html><html><body>{body}</body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, location: str) -> None:
        self.send_response(303)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()
