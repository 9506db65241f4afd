"""A local, wire-compatible Fly Machines API: a real HTTP server on loopback.

Implements the subset the hosted bots use, with Fly's paths, JSON shapes and states::

    POST   /v1/apps/{app}/machines                      create (and boot unless skip_launch)
    GET    /v1/apps/{app}                               the app (a status check's cheap read)
    GET    /v1/apps/{app}/machines[?metadata.K=V&include_deleted=true]
    GET    /v1/apps/{app}/machines/{id}
    POST   /v1/apps/{app}/machines/{id}/start           {"previous_state": ...}
    POST   /v1/apps/{app}/machines/{id}/stop            {"signal": "SIGTERM", "timeout": "30s"}
    GET    /v1/apps/{app}/machines/{id}/wait?state=started|stopped|destroyed&timeout=N   (408 on timeout)
    DELETE /v1/apps/{app}/machines/{id}[?force=true]    (412 for a running machine without force)

Every call needs ``Authorization: Bearer <token>`` (401 otherwise). Errors are ``{"error": "..."}``.
Emulator extensions, same token, never subject to the faults::

    GET        /_emulator/healthz                        no auth; 200 when serving
    GET|PUT    /_emulator/faults                         outage switch, rate limit, injected answers
    GET        /_emulator/apps/{app}/machines/{id}/log   the machine's log (?offset=BYTES), text/plain

Machines run as local processes (:mod:`fly.emu_machines`); images map to commands as
:mod:`fly.emu_images` describes; with a data dir the state survives a restart (:mod:`fly.emu_store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from fly.emu_config import EmulatorError, validate_create
from fly.emu_faults import Faults
from fly.emu_images import ImageTable
from fly.emu_machines import MachineHost
from fly.emu_vm import passthrough_env

log = structlog.get_logger(__name__)

Handler = Callable[[Request], Awaitable[Response]]
WAIT_STATES = ("started", "stopped", "suspended", "destroyed")
MAX_WAIT_S = 60


def create_emulator_app(host: MachineHost, *, token: str, faults: Faults) -> Starlette:
    """The Starlette app serving ``host``'s machines."""
    expected = f"Bearer {token}".encode()

    def authorised(request: Request) -> bool:
        return hmac.compare_digest(request.headers.get("authorization", "").encode(), expected)

    def fly_route(action: str, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            target = request.path_params.get("machine_id", request.path_params["app"])
            refusal = faults.refusal_for(action, target)
            if refusal is not None:
                headers = {"retry-after": str(refusal.retry_after_s)} if refusal.retry_after_s is not None else {}
                message = "rate limit exceeded" if refusal.status == 429 else "service unavailable (emulated outage)"
                return _error(refusal.status, message, headers)
            if not authorised(request):
                return _error(401, "unauthorized: send Authorization: Bearer <token>")
            if request.path_params["app"] != host.app_name:
                return _error(404, f"app {request.path_params['app']!r} not found")
            try:
                return await handler(request)
            except EmulatorError as exc:
                return _error(exc.status, exc.message)

        return endpoint

    async def create(request: Request) -> Response:
        validated = validate_create(await _json_body(request), host.images)
        record = host.create(validated)
        if faults.take_lost_create():
            return _error(500, "internal error (emulated: the machine was created but the answer was lost)")
        return JSONResponse(record)

    async def list_machines(request: Request) -> Response:
        query = request.query_params
        metadata = {k.removeprefix("metadata."): v for k, v in query.items() if k.startswith("metadata.")}
        include_deleted = request.query_params.get("include_deleted", "").lower() == "true"
        return JSONResponse(host.list_machines(include_deleted=include_deleted, metadata=metadata))

    async def get_app(request: Request) -> Response:
        # Fly's ``GET /v1/apps/{app}``: the cheap read a status check makes
        app = request.path_params["app"]
        return JSONResponse(
            {"id": app, "name": app, "status": "deployed", "organization": {"name": "Local", "slug": "personal"}}
        )

    async def get_machine(request: Request) -> Response:
        return JSONResponse(host.get(request.path_params["machine_id"]))

    async def start(request: Request) -> Response:
        previous = host.start(request.path_params["machine_id"])
        return JSONResponse({"previous_state": previous, "migrated": False, "new_host": ""})

    async def stop(request: Request) -> Response:
        body = await _json_body(request, empty_ok=True) or {}
        if not isinstance(body, dict):
            raise EmulatorError(400, "the stop body must be a JSON object")
        host.stop(request.path_params["machine_id"], signal_name=body.get("signal"), timeout=body.get("timeout"))
        return JSONResponse({"ok": True})

    async def wait(request: Request) -> Response:
        machine_id = request.path_params["machine_id"]
        state = request.query_params.get("state", "started")
        if state not in WAIT_STATES:
            raise EmulatorError(400, f"state: must be one of {', '.join(WAIT_STATES)}")
        try:
            timeout = int(request.query_params.get("timeout", str(MAX_WAIT_S)))
        except ValueError:
            raise EmulatorError(400, "timeout: expected whole seconds") from None
        if not 1 <= timeout <= MAX_WAIT_S:
            raise EmulatorError(400, f"timeout: must be between 1 and {MAX_WAIT_S} seconds")
        if await host.wait(machine_id, state, timeout):
            return JSONResponse({"ok": True})
        return _error(408, f"deadline_exceeded: machine {machine_id} did not reach {state!r} within {timeout}s")

    async def delete(request: Request) -> Response:
        force = request.query_params.get("force", "").lower() == "true"
        await host.delete(request.path_params["machine_id"], force=force)
        return JSONResponse({"ok": True})

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"ok": True, "app": host.app_name})

    async def faults_endpoint(request: Request) -> Response:
        if not authorised(request):
            return _error(401, "unauthorized: send Authorization: Bearer <token>")
        if request.method == "PUT":
            body = await _json_body(request)
            try:
                faults.apply(body)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                return _error(400, f"bad faults body: {exc}")
        return JSONResponse(faults.snapshot())

    async def machine_log(request: Request) -> Response:
        if not authorised(request):
            return _error(401, "unauthorized: send Authorization: Bearer <token>")
        machine_id = request.path_params["machine_id"]
        try:
            host.get(machine_id)
            offset = int(request.query_params.get("offset", "0"))
        except EmulatorError as exc:
            return _error(exc.status, exc.message)
        except ValueError:
            return _error(400, "offset: expected a byte offset")
        path = host.log_path(machine_id)
        data = b""
        if path.exists():
            with path.open("rb") as handle:
                handle.seek(max(0, offset))
                data = handle.read()
        return PlainTextResponse(data.decode(errors="replace"), headers={"x-log-size": str(offset + len(data))})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await host.load()
        yield
        await host.shutdown()

    machines = "/v1/apps/{app}/machines"
    machine = machines + "/{machine_id}"
    routes = [
        Route("/v1/apps/{app}", fly_route("get_app", get_app), methods=["GET"]),
        Route(machines, fly_route("create", create), methods=["POST"]),
        Route(machines, fly_route("list", list_machines), methods=["GET"]),
        Route(machine, fly_route("get", get_machine), methods=["GET"]),
        Route(machine + "/start", fly_route("start", start), methods=["POST"]),
        Route(machine + "/stop", fly_route("stop", stop), methods=["POST"]),
        Route(machine + "/wait", fly_route("wait", wait), methods=["GET"]),
        Route(machine, fly_route("delete", delete), methods=["DELETE"]),
        Route("/_emulator/healthz", healthz, methods=["GET"]),
        Route("/_emulator/faults", faults_endpoint, methods=["GET", "PUT"]),
        Route("/_emulator/apps/{app}/machines/{machine_id}/log", machine_log, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: the caller decides (tests must not lose SIGINT,
    and the CLI exits 0 after a SIGTERM rather than re-raising it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class FlyEmulator:
    """The emulator on a loopback port, inside the current event loop (tests), or via :func:`serve` (CLI).

    ``data_dir`` keeps ``state.json`` and the machine logs; without one, everything lives in a
    temporary directory that is removed on :meth:`stop` and nothing survives a restart.
    """

    def __init__(
        self,
        *,
        token: str,
        app_name: str = "hmmtrade-bots",
        data_dir: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = "iad",
        images: ImageTable | None = None,
        faults: Faults | None = None,
    ) -> None:
        if not token:
            raise ValueError("the Fly emulator needs a token (FLY_API_TOKEN)")
        self._tmp = None if data_dir is not None else tempfile.mkdtemp(prefix="fly-emulator-")
        root = Path(data_dir) if data_dir is not None else Path(self._tmp or "")
        self.token = token
        self.app_name = app_name
        self.faults = faults or Faults()
        self.machines = MachineHost(
            app_name=app_name,
            region=region,
            data_dir=root,
            images=images or ImageTable(),
            state_file=root / "state.json" if data_dir is not None else None,
            base_env=passthrough_env(os.environ),
        )
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    def app(self) -> Starlette:
        return create_emulator_app(self.machines, token=self.token, faults=self.faults)

    def log_path(self, machine_id: str) -> Path:
        return self.machines.log_path(machine_id)

    async def start(self) -> FlyEmulator:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self._host, self._port))
        self._port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
        self._server = _Server(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the Fly emulator stopped during start-up")
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        if self._socket is not None:
            self._socket.close()
        self.remove_temporary_files()

    def remove_temporary_files(self) -> None:
        """Without a data dir, the logs lived in a temporary directory: remove it."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    async def __aenter__(self) -> FlyEmulator:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()


def serve(
    *,
    token: str,
    host: str,
    port: int,
    data_dir: Path | None,
    app_name: str,
    images: ImageTable | None = None,
    region: str = "iad",
) -> None:
    """Run the emulator until SIGINT/SIGTERM (``hmmtrade fly-emulator``); machines are stopped on the way out."""
    emulator = FlyEmulator(
        token=token, app_name=app_name, data_dir=data_dir, host=host, port=port, images=images, region=region
    )
    config = uvicorn.Config(
        emulator.app(), host=host, port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
    )
    server = _Server(config)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        log.info("fly_emulator.serving", url=f"http://{host}:{port}", app=app_name, data_dir=str(data_dir))
        await server.serve()

    try:
        asyncio.run(main())
    finally:
        emulator.remove_temporary_files()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _json_body(request: Request, *, empty_ok: bool = False) -> Any:
    raw = await request.body()
    if not raw.strip():
        if empty_ok:
            return None
        raise EmulatorError(400, "a JSON body is required")
    try:
        return json.loads(raw)
    except ValueError:
        raise EmulatorError(400, "the request body is not valid JSON") from None
