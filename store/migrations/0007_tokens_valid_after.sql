-- A user's access tokens issued before this instant are refused. Set when a refresh token
-- is reused (two parties hold it): burning the refresh family alone would leave whoever
-- stole it with a working access token until it expires (up to 15 minutes).
-- NULL: no such event; every unexpired token is good.

ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz;
