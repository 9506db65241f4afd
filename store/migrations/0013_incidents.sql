-- Incidents and service credits (issue 18).
--
-- An incident is a window in which one of our dependencies failed: opened by the incident
-- watch when a component has failed past its threshold, or by an operator; closed when it
-- recovered. Hosted bots that could not run meanwhile are recorded as downtime intervals by the
-- hosting worker (a launch, wake or relaunch the provider refused, until one succeeds); a closed
-- incident's credits are computed from the downtime inside its window, once, then issued through
-- Stripe one customer at a time.

CREATE TABLE incidents (
    id                 uuid PRIMARY KEY,
    component          text NOT NULL CHECK (component IN ('api', 'bus', 'database', 'fly', 'kms', 'stripe')),
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    impact             text NOT NULL CHECK (impact IN ('degraded', 'down')),
    opened_by          text NOT NULL,                  -- 'watch' or 'operator:<name>'
    started_at         timestamptz NOT NULL,
    ended_at           timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    credits_computed_at timestamptz,                   -- who is owed what, computed once (service_credits)
    credits_settled_at timestamptz,                    -- every credit of this incident issued (or none due)
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
-- one open incident per component: the watch and operators add updates to it instead
CREATE UNIQUE INDEX incidents_open_component ON incidents (component) WHERE ended_at IS NULL;
CREATE INDEX incidents_started ON incidents (started_at DESC);

CREATE TABLE incident_updates (
    incident_id uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    seq         int NOT NULL,
    at          timestamptz NOT NULL,
    state       text NOT NULL CHECK (state IN ('investigating', 'identified', 'monitoring', 'resolved')),
    message     text NOT NULL CHECK (length(message) BETWEEN 1 AND 2000),
    author      text NOT NULL,
    PRIMARY KEY (incident_id, seq)
);

-- A hosted bot that should run but has no machine because the provider refused (Fly down):
-- from the first refused launch, wake or relaunch until a machine runs again, the bot is stopped
-- or deleted by its owner. One open interval per bot.
CREATE TABLE hosted_downtime (
    id         bigserial PRIMARY KEY,
    bot_id     uuid NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    cause      text NOT NULL CHECK (cause IN ('launch', 'wake', 'relaunch')),
    started_at timestamptz NOT NULL,
    ended_at   timestamptz,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE UNIQUE INDEX hosted_downtime_open_bot ON hosted_downtime (bot_id) WHERE ended_at IS NULL;
CREATE INDEX hosted_downtime_window ON hosted_downtime (started_at, ended_at);

-- One credit per (incident, customer), computed once when the incident's credits are first
-- settled (a re-run reads these rows rather than recomputing) and issued with the idempotency
-- key ``credit:<incident>:<user>``, so no re-run, redelivery or crash credits twice.
CREATE TABLE service_credits (
    incident_id      uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    plan             text NOT NULL CHECK (plan IN ('pro', 'team')),
    bot_seconds      bigint NOT NULL CHECK (bot_seconds >= 0),      -- downtime inside the window, all bots
    credited_seconds bigint NOT NULL CHECK (credited_seconds >= 0), -- past each bot's grace period
    amount_cents     int NOT NULL CHECK (amount_cents >= 0),
    currency         text NOT NULL DEFAULT 'usd',
    status           text NOT NULL CHECK (status IN ('pending', 'issued', 'none_due', 'no_customer')),
    stripe_txn_id    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    issued_at        timestamptz,
    notified_at      timestamptz,
    PRIMARY KEY (incident_id, user_id)
);
CREATE INDEX service_credits_user ON service_credits (user_id, created_at DESC);

-- What each credit was for: the bots of that customer that were down, and for how long.
CREATE TABLE service_credit_bots (
    incident_id      uuid NOT NULL,
    user_id          uuid NOT NULL,
    bot_id           uuid NOT NULL,
    bot_name         text NOT NULL,
    down_seconds     bigint NOT NULL CHECK (down_seconds >= 0),
    credited_seconds bigint NOT NULL CHECK (credited_seconds >= 0),
    PRIMARY KEY (incident_id, bot_id),
    FOREIGN KEY (incident_id, user_id) REFERENCES service_credits (incident_id, user_id) ON DELETE CASCADE
);
