"""Billing: plans and their limits, the Stripe gateway, webhook signatures, the local Stripe emulator."""
