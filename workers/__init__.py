"""FastStream consumers that carry out intents and project bot output into Postgres."""
