"""The cheapest check that Fly Machines serves us: ``GET /v1/apps/{app}`` (a read-only token is enough).

Shared by the API's status page and the workers' incident watch. Failures are named by kind in
plain words; Fly's own messages are never passed through.
"""

from __future__ import annotations

import httpx

from api.status import ProbeFailed, Verdict


async def probe_fly(http: httpx.AsyncClient, *, hostname: str, app: str, token: str, timeout_s: float) -> Verdict:
    try:
        response = await http.get(
            f"{hostname.rstrip('/')}/v1/apps/{app}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )
    except httpx.TimeoutException as exc:
        raise ProbeFailed("Fly Machines does not answer") from exc
    except httpx.TransportError as exc:
        raise ProbeFailed(f"Fly Machines cannot be reached ({type(exc).__name__})") from exc
    if response.status_code == 200:
        return Verdict("answering")
    if response.status_code == 429:
        return Verdict("answering, but rate limiting our calls", "degraded")
    if response.status_code in (401, 403):
        raise ProbeFailed("Fly Machines refused our credentials")
    if response.status_code == 404:
        raise ProbeFailed("Fly Machines does not know the bots' app")
    raise ProbeFailed(f"Fly Machines answered {response.status_code}")
