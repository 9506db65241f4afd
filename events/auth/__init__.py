"""Who may connect to the bus and what each identity may say (NATS decentralized JWT auth)."""
