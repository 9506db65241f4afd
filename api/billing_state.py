"""What the billing routes hold for the API's lifetime: the Stripe settings and gateway."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from billing.gateway import StripeGateway
from billing.settings import StripeSettings
from billing.stripe_gateway import StripeClientGateway


@dataclass
class BillingApi:
    settings: StripeSettings
    gateway: StripeGateway

    @classmethod
    def from_settings(cls, settings: StripeSettings, gateway: StripeGateway | None = None) -> BillingApi:
        return cls(settings=settings, gateway=gateway or StripeClientGateway(settings))

    async def close(self) -> None:
        await self.gateway.close()


async def get_billing(request: Request) -> BillingApi:
    billing: BillingApi = request.app.state.billing
    return billing


Billing = Annotated[BillingApi, Depends(get_billing)]
