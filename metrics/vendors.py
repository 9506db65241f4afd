"""Calls to the vendors behind our ports (KMS, Fly Machines, Stripe): latency and errors."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class VendorCalls:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.seconds = Histogram(
            "hmmtrade_vendor_call_duration_seconds",
            "Time of one call to a vendor (retries inside the client included), by vendor and operation.",
            ["vendor", "operation"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.errors = Counter(
            "hmmtrade_vendor_call_errors_total",
            "Vendor calls that raised, by vendor, operation and our exception's class name.",
            ["vendor", "operation", "error"],
            registry=registry,
        )
