"""The NATS JWTs we write (``events/auth/jwt.py``), checked against the nats-io/jwt v2 format.

tests/security/test_bus_auth.py proves a real nats-server takes them; that is too slow for
``./dev mutation``. Here each token is decoded and its signature verified the way the server
does it, so a change an operator would notice shows: a credential the server refuses (wrong
header, bad signature, jti not the claims' hash, v1 claims), a user or account throttled to no
subscriptions, a revocation list that is lost, a bot credential that never expires, a ``.creds``
file the NATS clients cannot read.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import nacl.signing
import nkeys
import pytest

from events.auth import jwt
from events.auth.jwt import Permissions


def _b64decode(text: str) -> bytes:
    assert "=" not in text, "nats-io/jwt uses base64url without padding"
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw_public(public: str) -> bytes:
    """An nkey public key is base32(prefix byte + 32-byte Ed25519 key + CRC16)."""
    decoded = base64.b32decode(public + "=" * (-len(public) % 8))
    return decoded[1:33]


def verified(token: str, signer_public: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of ``token`` after checking it as nats-server does (or fail the test)."""
    header_b64, claims_b64, signature_b64 = token.split(".")
    nacl.signing.VerifyKey(_raw_public(signer_public)).verify(
        f"{header_b64}.{claims_b64}".encode(), _b64decode(signature_b64)
    )
    header = json.loads(_b64decode(header_b64))
    claims = json.loads(_b64decode(claims_b64))
    assert header == {"typ": "JWT", "alg": "ed25519-nkey"}
    assert claims["iss"] == signer_public
    # jti: base32 (no padding) of SHA-512/256 over the claims serialized with an empty jti
    body = {**claims, "jti": ""}
    digest = hashlib.new("sha512_256", json.dumps(body, sort_keys=True).encode()).digest()
    assert claims["jti"] == base64.b32encode(digest).rstrip(b"=").decode()
    return header, claims


OPERATOR = jwt.new_seed(nkeys.PREFIX_BYTE_OPERATOR)
ACCOUNT_SIGNING = jwt.new_seed(nkeys.PREFIX_BYTE_ACCOUNT)
ACCOUNT = jwt.public_key(jwt.new_seed(nkeys.PREFIX_BYTE_ACCOUNT))


def test_seeds_are_fresh_and_of_the_asked_kind() -> None:
    user, account = jwt.new_seed(nkeys.PREFIX_BYTE_USER), jwt.new_seed(nkeys.PREFIX_BYTE_ACCOUNT)
    assert isinstance(user, bytes) and user.startswith(b"SU") and account.startswith(b"SA")
    assert jwt.public_key(user).startswith("U") and jwt.public_key(account).startswith("A")
    assert jwt.new_seed(nkeys.PREFIX_BYTE_USER) != user


def test_a_derived_seed_depends_on_the_secret_and_the_label_only() -> None:
    secret = jwt.new_seed(nkeys.PREFIX_BYTE_ACCOUNT)
    seed = jwt.derived_seed(secret, "bot:1:a", nkeys.PREFIX_BYTE_USER)
    assert isinstance(seed, bytes) and seed.startswith(b"SU")
    assert jwt.derived_seed(secret, "bot:1:a", nkeys.PREFIX_BYTE_USER) == seed
    assert jwt.derived_seed(secret, "bot:1:b", nkeys.PREFIX_BYTE_USER) != seed
    assert jwt.derived_seed(jwt.new_seed(nkeys.PREFIX_BYTE_ACCOUNT), "bot:1:a", nkeys.PREFIX_BYTE_USER) != seed
    # keyed BLAKE2b-256 of the label with the first 64 bytes of the secret: recomputable by a revoker
    raw = hashlib.blake2b(b"bot:1:a", key=secret[:64], digest_size=32).digest()
    assert seed == bytes(nkeys.encode_seed(raw, nkeys.PREFIX_BYTE_USER))


def test_an_encoded_token_verifies_and_reads_back() -> None:
    signer = jwt.new_seed(nkeys.PREFIX_BYTE_ACCOUNT)
    token = jwt.encode({"sub": "x", "name": "n", "iss": "forged", "jti": "forged"}, signer_seed=signer)
    _, claims = verified(token, jwt.public_key(signer))
    assert claims["sub"] == "x" and claims["name"] == "n"
    assert jwt.claims_of(token) == claims
    assert jwt.claims_of(f"  {token}\n") == claims


def test_a_token_signed_by_another_key_does_not_verify() -> None:
    token = jwt.encode({"sub": "x"}, signer_seed=jwt.new_seed(nkeys.PREFIX_BYTE_ACCOUNT))
    with pytest.raises(nacl.exceptions.BadSignatureError):
        verified(token, jwt.public_key(jwt.new_seed(nkeys.PREFIX_BYTE_ACCOUNT)))


@pytest.mark.parametrize("text", ["", "nodots", "a.!!!.c", "a.bm90IGpzb24.c", "a.WzFd.c"])
def test_claims_of_something_else_is_a_value_error(text: str) -> None:
    # "bm90IGpzb24" is base64 of "not json"; "WzFd" of "[1]", JSON but not claims
    with pytest.raises(ValueError, match=r"^not a NATS JWT$"):
        jwt.claims_of(text)


def test_base64_round_trips_without_padding_for_every_length() -> None:
    for size in range(6):
        data = bytes(range(250, 250 + size % 6)) if size else b""
        text = jwt._b64(data)
        assert "=" not in text and jwt._unb64(text) == data
    assert jwt._b64(b"\x00\x00\x17") == "AAAX"  # only the padding is stripped, not a last "X"


def test_permissions_become_allow_lists() -> None:
    claims = Permissions(publish=("a.>", "b"), subscribe=("_INBOX.x.>",)).claims()
    assert claims == {"pub": {"allow": ["a.>", "b"]}, "sub": {"allow": ["_INBOX.x.>"]}}


def test_the_operator_jwt_names_its_signing_key_and_system_account() -> None:
    signing = jwt.public_key(jwt.new_seed(nkeys.PREFIX_BYTE_OPERATOR))
    token = jwt.operator_jwt(operator_seed=OPERATOR, signing_key=signing, system_account="ASYS", name="hm", iat=7)
    _, claims = verified(token, jwt.public_key(OPERATOR))
    assert claims["sub"] == jwt.public_key(OPERATOR) and claims["iat"] == 7 and claims["name"] == "hm"
    assert claims["nats"] == {"signing_keys": [signing], "system_account": "ASYS", "type": "operator", "version": 2}


UNLIMITED = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": True, "conn": -1}


def test_an_account_is_unlimited_and_only_the_app_account_gets_jetstream() -> None:
    signing = jwt.public_key(ACCOUNT_SIGNING)
    app = jwt.account_jwt(account=ACCOUNT, name="APP", signer_seed=OPERATOR, signing_key=signing, iat=9, jetstream=True)
    _, claims = verified(app, jwt.public_key(OPERATOR))
    assert (claims["sub"], claims["name"], claims["iat"]) == (ACCOUNT, "APP", 9)
    nats = claims["nats"]
    assert nats["limits"] == {
        **UNLIMITED,
        "leaf": -1,
        "mem_storage": -1,
        "disk_storage": -1,
        "streams": -1,
        "consumer": -1,
    }
    assert nats["signing_keys"] == [signing]
    assert nats["default_permissions"] == {"pub": {}, "sub": {}}
    assert (nats["type"], nats["version"]) == ("account", 2)
    assert "revocations" not in nats
    system = jwt.account_jwt(
        account=ACCOUNT, name="SYS", signer_seed=OPERATOR, signing_key=signing, iat=9, jetstream=False
    )
    assert jwt.claims_of(system)["nats"]["limits"] == {**UNLIMITED, "leaf": -1}


def test_an_account_carries_its_revocations_in_key_order() -> None:
    token = jwt.account_jwt(
        account=ACCOUNT,
        name="APP",
        signer_seed=OPERATOR,
        signing_key=jwt.public_key(ACCOUNT_SIGNING),
        iat=9,
        jetstream=True,
        revocations={"UB": 5, "UA": 6},
    )
    revocations = verified(token, jwt.public_key(OPERATOR))[1]["nats"]["revocations"]
    assert list(revocations.items()) == [("UA", 6), ("UB", 5)]


def test_a_user_is_issued_by_the_account_signing_key_with_its_permissions() -> None:
    user = jwt.public_key(jwt.new_seed(nkeys.PREFIX_BYTE_USER))
    permissions = Permissions(publish=("bots.1.>",), subscribe=("_INBOX.bot.1.>",))
    token = jwt.user_jwt(
        user=user, name="bot-1", account=ACCOUNT, signer_seed=ACCOUNT_SIGNING, permissions=permissions, iat=11
    )
    _, claims = verified(token, jwt.public_key(ACCOUNT_SIGNING))
    assert (claims["sub"], claims["name"], claims["iat"]) == (user, "bot-1", 11)
    assert "exp" not in claims  # a service role's credential does not expire
    assert claims["nats"] == {
        "pub": {"allow": ["bots.1.>"]},
        "sub": {"allow": ["_INBOX.bot.1.>"]},
        "subs": -1,
        "data": -1,
        "payload": -1,
        "issuer_account": ACCOUNT,
        "type": "user",
        "version": 2,
    }


def test_a_bot_user_expires() -> None:
    token = jwt.user_jwt(
        user="UX",
        name="bot-1",
        account=ACCOUNT,
        signer_seed=ACCOUNT_SIGNING,
        permissions=Permissions((), ()),
        iat=11,
        expires_at=3611,
    )
    assert verified(token, jwt.public_key(ACCOUNT_SIGNING))[1]["exp"] == 3611


def test_a_creds_file_is_the_layout_the_nats_clients_parse() -> None:
    seed = jwt.new_seed(nkeys.PREFIX_BYTE_USER)
    text = jwt.creds_text("header.claims.sig", seed)
    # nats-io/jwt's FormatUserConfig layout, as `nsc` writes it (nats-py and the CLI parse it)
    assert text == (
        "-----BEGIN NATS USER JWT-----\nheader.claims.sig\n------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{seed.decode()}\n------END USER NKEY SEED------\n\n"
        "*************************************************************\n"
    )
    lines = text.splitlines()
    # nats-py and the nats CLI find the JWT and the seed between these exact marker lines
    assert lines[0] == "-----BEGIN NATS USER JWT-----"
    assert lines[1] == "header.claims.sig"
    assert lines[2] == "------END NATS USER JWT------"
    begin_seed = lines.index("-----BEGIN USER NKEY SEED-----")
    assert lines[begin_seed + 1] == seed.decode()
    assert lines[begin_seed + 2] == "------END USER NKEY SEED------"
    assert text.endswith("*************************************************************\n")
    assert jwt.jwt_of_creds(text) == "header.claims.sig"


@pytest.mark.parametrize("text", ["", "just text", "-----BEGIN NATS USER JWT-----"])
def test_a_file_that_is_not_creds_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"^not a NATS credentials file$"):
        jwt.jwt_of_creds(text)
