-- Single-use boot credentials (issue 12). A hosted bot's machine config carries one of these
-- instead of its machine JWT; the machine's boot exchanges it once, within minutes, for the
-- JWT, which then lives only in that process's memory. Only the SHA-256 of the bootstrap is
-- stored, so a database read yields nothing to exchange.
CREATE TABLE machine_bootstraps (
    token_hash     bytea PRIMARY KEY,
    bot_id         uuid NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    exchanged_at   timestamptz,
    machine_jti    uuid,           -- the machine JWT it was exchanged for
    revoked_at     timestamptz,    -- the bot stopped, was deleted or relaunched before the exchange
    revoked_reason text,
    replays        integer NOT NULL DEFAULT 0,  -- refused exchanges after the first: a leaked bootstrap
    last_replay_at timestamptz
);
CREATE INDEX machine_bootstraps_bot_open ON machine_bootstraps (bot_id) WHERE exchanged_at IS NULL AND revoked_at IS NULL;
