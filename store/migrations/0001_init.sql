-- Read models of the control plane and the idempotency ledger.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    password_hash text NOT NULL,
    tier          text NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'pro', 'team')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- One row per issued refresh token; a token is usable once (rotation), and a reused
-- token is a sign of theft.
CREATE TABLE refresh_tokens (
    jti        uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE bots (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL,
    surface       text NOT NULL CHECK (surface IN ('hosted', 'local')),
    mode          text NOT NULL CHECK (mode IN ('paper', 'live')),
    status        text NOT NULL,
    status_reason text,
    profile       jsonb NOT NULL,
    machine_id    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz
);
CREATE INDEX bots_user ON bots (user_id, created_at);

CREATE TABLE intents (
    id         text PRIMARY KEY,
    user_id    uuid NOT NULL,
    kind       text NOT NULL,
    bot_id     uuid,
    status     text NOT NULL CHECK (status IN ('accepted', 'done', 'failed')),
    error      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX intents_user ON intents (user_id);

-- The idempotency ledger: (consumer, message id) is handled at most once. `outcome`
-- holds the events the handler emitted, re-published if a crash lost them.
CREATE TABLE processed_messages (
    consumer     text NOT NULL,
    message_id   text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    outcome      jsonb NOT NULL DEFAULT '[]'::jsonb,
    PRIMARY KEY (consumer, message_id)
);

CREATE TABLE audit_events (
    bot_id        uuid NOT NULL,
    seq           bigint NOT NULL CHECK (seq > 0),
    bar_at        timestamptz NOT NULL,
    kind          text NOT NULL,
    regime        smallint,
    probabilities double precision[] NOT NULL DEFAULT '{}',
    equity        double precision,
    detail        jsonb NOT NULL DEFAULT '{}'::jsonb,
    message_id    text NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, seq)
);
