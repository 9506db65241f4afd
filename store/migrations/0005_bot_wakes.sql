-- Scale-to-zero wakes: one row per (bot, session close) the scheduler woke the bot for.
-- The scheduler reads the latest row per bot, so a restarted scheduler neither repeats a
-- wake (the row is there) nor forgets one (no row: the close is still due).

CREATE TABLE bot_wakes (
    bot_id        uuid NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    session_close timestamptz NOT NULL,  -- the exchange's session close this wake was for
    wake_id       text NOT NULL,         -- the launch id the machine was tagged with
    woken_at      timestamptz NOT NULL,  -- the scheduler's clock when it launched the machine
    PRIMARY KEY (bot_id, session_close)
);
