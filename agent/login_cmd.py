"""``hmmtrade login``: email and password against the cloud API; the tokens go to the user's
config dir (0600). Never echoes the password or prints a token."""

from __future__ import annotations

import asyncio
import getpass
import sys

from agent.cloud import CloudRejected, CloudUnreachable
from agent.home import AgentHome
from agent.sync import CloudSync
from agent.tokens import TokenStore


def login_command(api_url: str, email: str, *, password_stdin: bool) -> int:
    password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass("Password: ")
    store = TokenStore()
    # the sync object only needs a home for its link file; login itself touches none
    sync = CloudSync(AgentHome(store.path.parent), store)
    try:
        asyncio.run(sync.login(api_url.rstrip("/"), email, password))
    except CloudUnreachable as exc:
        print(f"error: cannot reach {api_url} ({exc}); check the address and try again", file=sys.stderr)
        return 1
    except CloudRejected as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    print(f"Logged in as {email}; token saved to {store.path}")
    return 0
