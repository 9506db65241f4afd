-- Billing: a user's Stripe customer and the mirror of their Stripe subscriptions.
-- users.tier (0001) is the plan in force; the billing worker derives it from these rows.

CREATE TABLE billing_customers (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    customer_id text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
    id                   text PRIMARY KEY,               -- Stripe's sub_…
    user_id              uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    customer_id          text NOT NULL,
    plan                 text NOT NULL CHECK (plan IN ('pro', 'team')),
    stripe_status        text NOT NULL,                  -- as Stripe reports it
    state                text NOT NULL CHECK (state IN ('active', 'past_due', 'canceled')),
    current_period_end   timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    past_due_since       timestamptz,                    -- start of the grace period
    grace_expired_at     timestamptz,                    -- when the sweeper ended the grace period
    last_event_id        text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_user ON subscriptions (user_id);
CREATE INDEX subscriptions_past_due ON subscriptions (past_due_since) WHERE state = 'past_due';
