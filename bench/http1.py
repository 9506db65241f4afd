"""A minimal keep-alive HTTP/1.1 client for load generation.

httpx spends more CPU per request than the API does to answer it, and the load
generator shares this machine's two cores with the stack, so the benchmark speaks
HTTP/1.1 over asyncio streams directly: one connection per simulated client.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class Http1Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def request(
        self, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        try:
            return await self._request(method, path, body=body, headers=headers)
        except (ConnectionError, asyncio.IncompleteReadError):
            # the server closes keep-alive connections idle for 5 s (e.g. during warm-up): retry once
            self._reader = self._writer = None
            return await self._request(method, path, body=body, headers=headers)

    async def _request(
        self, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        reader, writer = await self._connect()
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(payload)}"]
        if body is not None:
            lines.append("Content-Type: application/json")
        lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            self._reader = self._writer = None
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        data = await reader.readexactly(length) if length else b""
        return status, json.loads(data) if data else None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
