-- Non-secret facts about a broker connection, recorded in the clear at connect (issue 13), so a
-- bot's mode can be checked against the account without decrypting anything:
--   paper    true for an Alpaca paper account, an exchange sandbox or the built-in simulator;
--            false for a live account that trades real money; NULL for connections made before
--            this column existed (unknown: the API asks the trader to reconnect the broker).
--   exchange the ccxt exchange id of an `exchange` connection, NULL otherwise.
ALTER TABLE broker_connections ADD COLUMN paper boolean;
ALTER TABLE broker_connections ADD COLUMN exchange text;
-- The built-in simulator's connections are paper accounts by definition.
UPDATE broker_connections SET paper = true WHERE kind = 'paper';
