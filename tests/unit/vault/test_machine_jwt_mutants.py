"""Machine JWT behaviour that a mutation run (``./dev mutation vault/machine_jwt.py``) showed untested.

What an operator would notice: a bot's token refused (or accepted) a few seconds off its window,
a rotated-out key still verifying, a fresh key folder whose first key is not yet active, and
refusals that do not say why.
"""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path

import jwt
import pytest

from vault.keys import generate_private_key_pem, key_id, load_private_key, public_raw
from vault.machine_jwt import (
    InvalidMachineToken,
    KeyRing,
    KeyRingFolder,
    MachineTokens,
    RingKey,
    load_key_dir,
    open_machine_tokens,
    rotate_key_dir,
)

BOT = uuid.uuid4()
T = 1_000_000  # far from the real clock: every time check must use ``now``


def _key(activated_at: float) -> RingKey:
    private = load_private_key(generate_private_key_pem())
    return RingKey(key_id(private.public_key()), private, activated_at)


def _tokens(ring: KeyRing, ttl_s: int = 600) -> MachineTokens:
    return MachineTokens(ring, issuer="hmmtrade", audience="hmmtrade-internal", ttl_s=ttl_s)


def _forge(key: RingKey, **claims: object) -> str:
    payload: dict[str, object] = {
        "iss": "hmmtrade",
        "aud": "hmmtrade-internal",
        "sub": f"bot:{BOT}",
        "jti": str(uuid.uuid4()),
        "iat": T,
        "nbf": T,
        "exp": T + 600,
        **claims,
    }
    return jwt.encode(payload, key.private, algorithm="EdDSA", headers={"kid": key.kid})


def test_a_token_is_good_until_five_seconds_past_its_expiry_and_checked_against_now_only() -> None:
    tokens = _tokens(KeyRing([_key(0.0)], overlap_s=600))
    token, claims = tokens.mint(BOT, now=T)
    assert claims.expires_at == T + 600
    assert tokens.verify(token, now=T + 604.5).bot_id == BOT
    with pytest.raises(InvalidMachineToken, match=r"^expired$"):
        tokens.verify(token, now=T + 605)


def test_a_token_is_not_valid_more_than_five_seconds_before_its_start() -> None:
    key = _key(0.0)
    tokens = _tokens(KeyRing([key], overlap_s=600))
    token, _ = tokens.mint(BOT, now=T)
    assert tokens.verify(token, now=T - 5).bot_id == BOT
    with pytest.raises(InvalidMachineToken, match=r"^not yet valid$"):
        tokens.verify(token, now=T - 5.5)
    issued_later = _forge(key, iat=T + 60)  # nbf now, iat a minute ahead
    with pytest.raises(InvalidMachineToken, match=r"^not yet valid$"):
        tokens.verify(issued_later, now=T)


def test_minting_and_verifying_on_the_real_clock() -> None:
    tokens = _tokens(KeyRing.generate(overlap_s=600))
    token, claims = tokens.mint(BOT)
    assert jwt.get_unverified_header(token)["typ"] == "JWT"
    assert tokens.verify(token) == claims


def test_each_refusal_says_why() -> None:
    key = _key(0.0)
    tokens = _tokens(KeyRing([key], overlap_s=600))
    hmac = jwt.encode({"sub": f"bot:{BOT}"}, "x" * 32, algorithm="HS256", headers={"kid": key.kid})
    with pytest.raises(InvalidMachineToken, match=r"^algorithm must be EdDSA$"):
        tokens.verify(hmac, now=T)
    with pytest.raises(InvalidMachineToken, match=r"^unknown signing key$"):
        tokens.verify(_forge(_key(0.0)), now=T)
    with pytest.raises(InvalidMachineToken, match=r"^malformed claims$"):
        tokens.verify(_forge(key, jti="not-a-uuid"), now=T)
    with pytest.raises(InvalidMachineToken, match=r"[Aa]udience"):
        tokens.verify(_forge(key, aud="someone-else"), now=T)


def test_a_ring_needs_a_key_and_a_generated_ring_is_active_from_when_it_was_made() -> None:
    with pytest.raises(ValueError, match=r"^a key ring needs at least one key$"):
        KeyRing([], overlap_s=1)
    assert KeyRing.generate(overlap_s=7, now=T).keys[0].activated_at == T
    before = time.time()
    ring = KeyRing.generate(overlap_s=7)
    assert before <= ring.keys[0].activated_at <= time.time() and ring.overlap_s == 7


def test_the_newest_active_key_signs_from_its_activation_and_the_first_before_any() -> None:
    first, second = _key(100.0), _key(200.0)
    ring = KeyRing([first, second], overlap_s=50)
    assert ring.signing_key(50.0) is first
    assert ring.signing_key(200.0) is second


def test_a_retired_key_verifies_for_the_overlap_from_its_successor_taking_over_and_no_longer() -> None:
    first, second, third = _key(100.0), _key(200.0), _key(300.0)
    ring = KeyRing([first, second, third], overlap_s=50)
    assert set(ring.verification_keys(200.0)) == {first.kid, second.kid}
    assert set(ring.verification_keys(249.9)) == {first.kid, second.kid}
    assert set(ring.verification_keys(250.0)) == {second.kid}
    assert set(ring.verification_keys(320.0)) == {second.kid, third.kid}


def test_keys_activated_together_both_verify() -> None:
    one, two = _key(100.0), _key(100.0)
    assert set(KeyRing([one, two], overlap_s=50).verification_keys(100.0)) == {one.kid, two.kid}


def test_the_jwks_publishes_each_key_unpadded_for_signatures() -> None:
    key = _key(0.0)
    [published] = KeyRing([key], overlap_s=1).jwks(T)["keys"]
    assert "=" not in published["x"] and published["use"] == "sig"
    assert base64.urlsafe_b64decode(published["x"] + "=") == public_raw(key.public)


def test_a_new_key_folder_is_created_with_a_first_key_active_from_the_start(tmp_path: Path) -> None:
    folder = tmp_path / "not" / "there"
    ring = load_key_dir(folder, overlap_s=30)
    assert ring.overlap_s == 30
    [name] = [p.name for p in folder.iterdir()]
    assert name.startswith("0-") and ring.signing_key(1.0).activated_at == 0.0


def test_a_watched_folder_keeps_its_overlap_and_waits_for_its_recheck(tmp_path: Path) -> None:
    load_key_dir(tmp_path, overlap_s=30)
    slow = KeyRingFolder(tmp_path, overlap_s=30, recheck_s=3600)
    eager = KeyRingFolder(tmp_path, overlap_s=30, recheck_s=0)
    assert slow.ring().overlap_s == 30 and len(eager.ring().keys) == 1
    rotate_key_dir(tmp_path, overlap_s=30, now=T)
    assert len(slow.ring().keys) == 1, "re-read only after recheck_s"
    assert len(eager.ring().keys) == 2 and eager.ring().overlap_s == 30


def test_a_token_for_something_other_than_a_bot_is_refused() -> None:
    key = _key(0.0)
    with pytest.raises(InvalidMachineToken, match=r"^subject is not a bot$"):
        _tokens(KeyRing([key], overlap_s=600)).verify(_forge(key, sub="user:1"), now=T)


def test_a_rotation_keeps_a_retired_key_that_still_verifies_in_the_next_second(tmp_path: Path) -> None:
    load_key_dir(tmp_path, overlap_s=50)  # first key, active from 0
    [first] = [p.name for p in tmp_path.iterdir()]
    rotate_key_dir(tmp_path, overlap_s=50, now=100)  # first retired at 100: verifies until 150
    rotate_key_dir(tmp_path, overlap_s=50, now=148)
    assert first in {p.name for p in tmp_path.iterdir()}
    rotate_key_dir(tmp_path, overlap_s=50, now=151)
    assert first not in {p.name for p in tmp_path.iterdir()}


@pytest.mark.parametrize("in_folder", [False, True])
def test_open_machine_tokens_overlaps_keys_for_one_token_lifetime(tmp_path: Path, in_folder: bool) -> None:
    tokens = open_machine_tokens(tmp_path / "keys" if in_folder else None, ttl_s=90)
    assert (tokens.issuer, tokens.audience, tokens.ttl_s, tokens.ring.overlap_s) == (
        "hmmtrade",
        "hmmtrade-internal",
        90,
        90,
    )
    assert len(list((tmp_path / "keys").iterdir()) if in_folder else []) == (1 if in_folder else 0)
    token, claims = tokens.mint(BOT, now=T)
    assert tokens.verify(token, now=T + 1) == claims


def test_a_rotation_by_another_process_is_seen_one_second_later_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API re-reads the key folder at most once a second: a key rotated by the operator's
    command signs the next token within a second, and the folder is not listed on every request."""
    clock = [1_000.0]
    monkeypatch.setattr("vault.machine_jwt.time.monotonic", lambda: clock[0])
    folder = tmp_path / "keys"
    watched = KeyRingFolder(folder, overlap_s=86_400)
    before = watched.ring().signing_key(time.time()).kid
    after = rotate_key_dir(folder, overlap_s=86_400)
    clock[0] += 0.999
    assert watched.ring().signing_key(time.time() + 1).kid == before  # not re-read yet
    clock[0] += 0.001
    assert watched.ring().signing_key(time.time() + 1).kid == after != before  # one second on: re-read
