-- Notifications (issue 15): a user's channels, the per-(notification, channel) delivery ledger,
-- and each bot's running day tally for the daily summary.

-- A channel's secret (webhook signing secret + URL, Telegram bot token, or the email address) is
-- sealed like a broker secret: AES-GCM under a KMS-wrapped data key, bound to (user id, channel id).
-- `target` is the non-secret part shown in lists: a webhook's host, an address, a chat id.
CREATE TABLE notification_channels (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind           text NOT NULL CHECK (kind IN ('webhook', 'email', 'telegram')),
    label          text NOT NULL,
    target         text NOT NULL,
    ciphertext     bytea NOT NULL,
    wrapped_key    bytea NOT NULL,
    iv             bytea NOT NULL,
    tag            bytea NOT NULL,
    kms_key_id     text NOT NULL,
    scheme_version integer NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz
);
CREATE INDEX notification_channels_user ON notification_channels (user_id, created_at) WHERE deleted_at IS NULL;

-- One row per (notification, channel): inserting twice keeps one, so a redelivered bus message
-- never queues a second send. The notifier claims due rows (lease_until) and records each attempt.
CREATE TABLE notification_deliveries (
    notification_id text NOT NULL,
    channel_id      uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    bot_id          uuid NOT NULL,
    user_id         uuid NOT NULL,
    kind            text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    PRIMARY KEY (notification_id, channel_id)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_deliveries_bot ON notification_deliveries (bot_id, created_at);

-- The open day of each bot's daily summary (notify.daily.DayTally).
CREATE TABLE notification_day_tallies (
    bot_id       uuid PRIMARY KEY,
    day          date NOT NULL,
    last_seq     bigint NOT NULL,
    open_equity  double precision,
    close_equity double precision,
    regime       integer,
    trades       integer NOT NULL,
    decisions    integer NOT NULL
);
