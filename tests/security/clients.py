"""The API in-process, and clients that reach it from a chosen address (as the server sees it)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from api.app import create_app
from api.settings import ApiSettings
from billing.settings import StripeSettings

PASSWORD = "correct horse battery"


@contextlib.asynccontextmanager
async def running_app(settings: ApiSettings, *, stripe: StripeSettings | None = None) -> AsyncIterator[FastAPI]:
    """``create_app(settings)`` with its lifespan (bus, pool) running until the block ends."""
    app = create_app(settings, stripe=stripe)
    async with app.router.lifespan_context(app):
        yield app


@contextlib.asynccontextmanager
async def client_from(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests arrive from ``address``, as a TCP peer would."""
    transport = httpx.ASGITransport(app=app, client=(address, 50_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def signup(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})
