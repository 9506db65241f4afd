-- Broker connections under envelope encryption, and machine tokens (issue 4).

-- The secret is never here in plaintext: `ciphertext` + `tag` are AES-256-GCM under a
-- per-row data key, bound (as associated data) to user_id, id and scheme_version;
-- `wrapped_key` is that data key encrypted by the KMS key version `kms_key_id`.
-- Revocation destroys the wrapped key (crypto-shredding) and keeps the metadata row.
CREATE TABLE broker_connections (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind           text NOT NULL CHECK (kind IN ('paper', 'alpaca', 'exchange')),
    label          text NOT NULL,
    ciphertext     bytea,
    wrapped_key    bytea,
    iv             bytea,
    tag            bytea,
    kms_key_id     text,
    scheme_version smallint,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz,
    revoked_at     timestamptz,
    CHECK (status = 'revoked' OR kind = 'paper' OR (
        ciphertext IS NOT NULL AND wrapped_key IS NOT NULL AND iv IS NOT NULL AND tag IS NOT NULL
        AND kms_key_id IS NOT NULL AND scheme_version IS NOT NULL))
);
CREATE INDEX broker_connections_user ON broker_connections (user_id, created_at);

-- Every machine JWT the control plane issued. A token verifies only if its jti is here,
-- for the same bot, and not revoked (bot stopped or deleted, or revoked by hand).
CREATE TABLE machine_tokens (
    jti            uuid PRIMARY KEY,
    bot_id         uuid NOT NULL,
    kid            text NOT NULL,
    issued_at      timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX machine_tokens_bot_live ON machine_tokens (bot_id) WHERE revoked_at IS NULL;
