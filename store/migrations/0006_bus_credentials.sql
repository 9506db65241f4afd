-- Bus credentials of hosted bots are derived from the machine token they were fetched with
-- (events.auth.keys.BusKeys.bot_user_key(bot, jti)). A revoked token whose bus credentials
-- were handed out must also be revoked on the bus; the workers' revoker sweeps these rows.
ALTER TABLE machine_tokens ADD COLUMN IF NOT EXISTS bus_creds_issued_at timestamptz;
ALTER TABLE machine_tokens ADD COLUMN IF NOT EXISTS bus_revoked_at timestamptz;
CREATE INDEX IF NOT EXISTS machine_tokens_bus_revocation_due
    ON machine_tokens (revoked_at)
    WHERE bus_creds_issued_at IS NOT NULL AND revoked_at IS NOT NULL AND bus_revoked_at IS NULL;
