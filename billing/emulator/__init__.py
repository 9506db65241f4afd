"""A local, stateful Stripe for development and tests.

``stripe-mock`` is stateless and sends no webhooks; this one keeps customers, Checkout
and portal sessions, subscriptions, invoices, customer balance transactions and events in
memory, speaks the v1 wire format (form-encoded requests, Stripe JSON and error bodies,
idempotency keys) on a real loopback HTTP server, and delivers signed webhooks to one
endpoint, retrying failures.
"""

from billing.emulator.server import StripeEmulator
from billing.emulator.state import EmulatorError, StripeState

__all__ = ["EmulatorError", "StripeEmulator", "StripeState"]
