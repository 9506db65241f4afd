"""Stripe settings, from the environment (``STRIPE_*``), shared by the API and the workers."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from billing.plans import PaidPlan

EMULATOR_SECRET_KEY = "sk_test_hmmtrade_emulator"
EMULATOR_PRICES: dict[PaidPlan, str] = {"pro": "price_hmmtrade_pro", "team": "price_hmmtrade_team"}


class StripeSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    secret_key: SecretStr = Field(
        default=SecretStr(EMULATOR_SECRET_KEY),
        validation_alias=AliasChoices("STRIPE_SECRET_KEY"),
        description="Stripe secret key (sk_live_… / sk_test_…); the default only works against the emulator.",
    )
    api_base: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STRIPE_API_BASE"),
        description="Base URL of the Stripe API; set to the local emulator's URL by `hmmtrade up`. Unset = Stripe.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("STRIPE_WEBHOOK_SECRET"),
        description="The endpoint's signing secret (whsec_…); webhooks are refused while it is unset.",
    )
    webhook_tolerance_s: int = Field(
        default=300, ge=1, le=3600, validation_alias=AliasChoices("STRIPE_WEBHOOK_TOLERANCE_S")
    )
    price_pro: str = Field(default=EMULATOR_PRICES["pro"], validation_alias=AliasChoices("STRIPE_PRICE_PRO"))
    price_team: str = Field(default=EMULATOR_PRICES["team"], validation_alias=AliasChoices("STRIPE_PRICE_TEAM"))
    max_network_retries: int = Field(
        default=2, ge=0, le=10, validation_alias=AliasChoices("STRIPE_MAX_NETWORK_RETRIES")
    )
    timeout_s: float = Field(default=10.0, gt=0, le=80, validation_alias=AliasChoices("STRIPE_TIMEOUT_S"))
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        validation_alias=AliasChoices("HMMTRADE_PUBLIC_URL"),
        description="Where users reach the app; Checkout and the portal send them back here.",
    )

    def price_for(self, plan: PaidPlan) -> str:
        return self.price_pro if plan == "pro" else self.price_team

    def plan_for_price(self, price_id: str) -> PaidPlan | None:
        return {self.price_pro: "pro", self.price_team: "team"}.get(price_id)  # type: ignore[return-value]
