"""``hmmtrade login`` against the API over real HTTP: the token lands in the config dir
(0600, no password in it); a wrong password and an unreachable cloud say so in one line."""

from __future__ import annotations

import io
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from agent.login_cmd import login_command
from api.app import create_app
from api.settings import ApiSettings
from events.embedded import free_port

PASSWORD = "correct horse battery"


@pytest.fixture
def api_url(api_settings: ApiSettings) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(api_settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_login_caches_the_token_privately_and_explains_failures(
    api_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    assert httpx.post(f"{api_url}/api/v1/auth/signup", json={"email": email, "password": PASSWORD}).status_code == 201
    monkeypatch.setenv("HMMTRADE_CONFIG_DIR", str(tmp_path / "cfg"))

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert login_command(api_url, email, password_stdin=True) == 0
    cached = tmp_path / "cfg" / "login.json"
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert "access_token" in cached.read_text() and PASSWORD not in cached.read_text()
    assert "access_token" not in capsys.readouterr().out

    monkeypatch.setattr("sys.stdin", io.StringIO("not the password\n"))
    assert login_command(api_url, email, password_stdin=True) == 1
    assert "Wrong email or password" in capsys.readouterr().err

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert login_command(f"http://127.0.0.1:{free_port()}", email, password_stdin=True) == 1
    assert "cannot reach" in capsys.readouterr().err
