"""Incidents of our dependencies (Fly, KMS, Stripe, the bus, the database) and the service
credits paid customers are owed for them (docs/terms.md)."""
