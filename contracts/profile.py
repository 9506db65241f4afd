"""The bot profile: what a trader describes in the 6-step wizard.

Each wizard step is one section model, so ``POST /api/v1/bots/validate?step=N`` can
check a single step, and :class:`BotProfile` adds the checks that span steps.
Every number is bounded; messages are written for a trader, not a programmer.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from functools import cache
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from contracts.base import Contract
from contracts.notify import NotifySettings

Surface = Literal["hosted", "local"]
Mode = Literal["paper", "live"]
AssetClass = Literal["stock", "crypto"]
BarInterval = Literal["1m", "5m", "15m", "1h", "4h", "1d"]
DataSource = Literal["sp500", "nasdaq", "bundled", "broker", "file"]
Feature = Literal["log_return", "realized_vol", "hl_range", "volume_z"]
WindowKind = Literal["rolling", "expanding"]
ModelScope = Literal["reference", "per_symbol"]
RunSchedule = Literal["after_close", "every_bar"]
RearmRule = Literal["calm", "new_high", "manual"]
REARM_WORDS: dict[str, str] = {
    "calm": "after {n} calm bars in a low-volatility regime",
    "new_high": "when the strategy's signal has made back its loss since the halt (its shadow book closes above "
    "the equity at the halt)",
    "manual": "when you re-arm it from the dashboard or the API",
}
"""How a drawdown halt ends, as the audit, the review and the wizard say it (``{n}``: calm bars)."""
AUTO_STATES = (2, 4)
"""The range ``n_states: auto`` chooses from at each refit (by BIC)."""

_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\-/]{0,19}$")
_BROKER_STOCK = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")  # SPY, BRK.B: what Alpaca's stock endpoints take
_BROKER_PAIR = re.compile(r"^[A-Z0-9]{2,10}/[A-Z0-9]{2,10}$")  # BTC/USD, ETH/USDT: BASE/QUOTE
_NAME = re.compile(r"^[\w .,&'+#/()\-]+$")

Percent = Annotated[float, Field(gt=0, le=100)]

BUNDLED_SYMBOLS: dict[str, str] = {"sp500": "SPY", "nasdaq": "QQQ"}
"""The one symbol each bundled daily series is traded as: ``sp500`` replays the S&P 500 index
(as SPY, the fund that tracks it), ``nasdaq`` the NASDAQ index (as QQQ). Any other symbol on
these sources would trade the index's prices under another name, so it is refused."""

BUNDLED_SERIES: dict[str, str] = {symbol: source for source, symbol in BUNDLED_SYMBOLS.items()}
"""Data source ``bundled`` replays both bundled series together, each under its symbol (SPY, QQQ): a
portfolio that needs no files and no broker."""
REPLAY_SOURCES = ("sp500", "nasdaq", "bundled")
"""Data sources that replay bundled history (daily bars only, paper only)."""
SYMBOL_PLACEHOLDER = "{symbol}"
"""In ``data_file``, stands for each symbol's name: one file per symbol (``data/{symbol}.csv``)."""
WEIGHT_SLACK = 1e-9
"""How far above 1 the capital weights may sum (decimal fractions such as 0.1 x 10 do not add to exactly 1)."""

LIVE_CONFIRMATION = "I understand this bot trades real money"
"""What a trader types, exactly, to create a bot in ``live`` mode (``basics.live_confirmation``)."""


def field_error(loc: tuple[str, ...], message: str, value: Any) -> ValidationError:
    """A validation error located at one field, for checks that need several fields to decide.

    Raised from a model validator, pydantic prefixes the enclosing path, so the API reports
    ``market.symbols`` rather than the whole section; ``message`` is shown as written.
    """
    return ValidationError.from_exception_data(
        "BotProfile", [InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=value)]
    )


class Basics(Contract):
    """Step 1: what the bot is called, where it runs and whether it trades real money.

    ``live_confirmation`` sits here, beside ``mode``, rather than with step 6's review: the
    trader types it at the moment they choose real money, the step-1 check refuses a live bot
    without it, and the check needs no other step (so ``validate?step=1`` gives the same verdict
    as create).
    """

    name: str = Field(
        min_length=1,
        max_length=64,
        description="Shown on the dashboard; letters, digits, spaces and . , & ' + # / ( ) - _",
    )
    surface: Surface = Field(description="`hosted` runs on our cloud (paid tiers); `local` on your laptop's agent.")
    mode: Mode = Field(
        default="paper",
        description="`paper` trades the built-in simulator or a broker's paper account; `live` sends real orders "
        "with real money.",
    )
    live_confirmation: str | None = Field(
        default=None,
        max_length=100,
        validate_default=True,
        description=f"Required when mode is `live`: type exactly `{LIVE_CONFIRMATION}`. Cleared in paper mode.",
    )

    @field_validator("live_confirmation")
    @classmethod
    def _live_is_confirmed(cls, value: str | None, info: ValidationInfo) -> str | None:
        mode = info.data.get("mode")
        if mode == "paper":
            return None  # a stale confirmation from an earlier live choice confirms nothing
        if mode == "live" and value != LIVE_CONFIRMATION:
            raise ValueError(f"a live bot trades real money: type exactly '{LIVE_CONFIRMATION}' to confirm")
        return value

    @field_validator("name")
    @classmethod
    def _name_chars(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("name may contain only letters, digits, spaces and . , & ' + # / ( ) - _")
        return value


class Broker(Contract):
    """Step 2: which broker connection places the orders."""

    connection: str = Field(
        default="paper",
        max_length=36,
        description="`paper` for the built-in simulator, or the id of one of your broker connections.",
    )

    @field_validator("connection")
    @classmethod
    def _paper_or_connection_id(cls, value: str) -> str:
        if value == "paper":
            return value
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError("use 'paper' or the id of one of your broker connections") from None


class Market(Contract):
    """Step 3: what the bot trades and which bars it reads."""

    symbols: list[str] = Field(
        min_length=1,
        max_length=20,
        description="Tickers, e.g. SPY or BTC-USD: one symbol, or a portfolio of up to 20 traded together.",
    )
    bar_interval: BarInterval = Field(default="1d", description="Length of one bar.")
    asset_class: AssetClass = Field(default="stock")
    data_source: DataSource = Field(
        default="sp500",
        description="`sp500`/`nasdaq` replay bundled daily data (1999-2018) of one symbol each (SPY, QQQ); "
        "`bundled` replays both (symbols SPY and/or QQQ); `broker` streams live bars; "
        "`file` reads CSV/Parquet files on a local agent.",
    )
    data_file: str | None = Field(
        default=None,
        max_length=512,
        description="Path of the bar file when data_source is `file`; with several symbols, one file per symbol "
        "named by a `{symbol}` placeholder, e.g. `data/{symbol}.csv`.",
    )

    @field_validator("symbols")
    @classmethod
    def _symbols_valid(cls, symbols: list[str]) -> list[str]:
        cleaned = [s.strip().upper() for s in symbols]
        for symbol in cleaned:
            if not _SYMBOL.match(symbol):
                raise ValueError(f"{symbol!r} is not a ticker: use 1-20 letters, digits, '.', '-' or '/'")
        duplicates = sorted({s for s in cleaned if cleaned.count(s) > 1})
        if duplicates:
            raise ValueError(f"symbol listed twice: {', '.join(duplicates)}")
        return cleaned

    @model_validator(mode="after")
    def _data_file_matches_source(self) -> Market:
        if self.data_source == "file" and not self.data_file:
            raise ValueError("data_file is required when data_source is 'file'")
        if self.data_source != "file" and self.data_file:
            raise ValueError("data_file is only used when data_source is 'file'")
        if self.data_source in REPLAY_SOURCES and self.bar_interval != "1d":
            raise ValueError(f"the bundled {self.data_source} data has daily bars: set bar_interval to '1d'")
        if self.data_source in BUNDLED_SYMBOLS:
            self._bundled_symbols()
        if self.data_source == "bundled":
            self._bundled_pair()
        if self.data_source == "broker":
            self._broker_symbols()
        if self.data_source == "file" and len(self.symbols) > 1:
            self._one_file_per_symbol()
        return self

    def _bundled_pair(self) -> None:
        foreign = [s for s in self.symbols if s not in BUNDLED_SERIES]
        if foreign:
            raise field_error(
                ("symbols",),
                f"{', '.join(foreign)}: the bundled data holds SPY (S&P 500) and QQQ (NASDAQ) only; "
                "pick data 'broker' or 'file' for other symbols",
                self.symbols,
            )

    def _one_file_per_symbol(self) -> None:
        """Several symbols read one file each; a single file would give every symbol the same prices."""
        if SYMBOL_PLACEHOLDER not in (self.data_file or ""):
            raise field_error(
                ("data_file",),
                f"{len(self.symbols)} symbols need one file each: put {SYMBOL_PLACEHOLDER} in the path where the "
                f"symbol's name goes, e.g. data/{SYMBOL_PLACEHOLDER}.csv",
                self.data_file,
            )

    def files(self) -> dict[str, str]:
        """Each symbol's bar file (data_source ``file``): the placeholder filled in, or the one file."""
        assert self.data_file is not None
        return {s: self.data_file.replace(SYMBOL_PLACEHOLDER, s.replace("/", "-")) for s in self.symbols}

    def _bundled_symbols(self) -> None:
        """A bundled series holds one symbol: anything else would trade its prices under another name."""
        held = BUNDLED_SYMBOLS[self.data_source]
        foreign = [s for s in self.symbols if s != held]
        if not foreign:
            return
        names = ", ".join(repr(s) for s in foreign)
        verb = "is" if len(foreign) == 1 else "are"
        other = [source for source, symbol in BUNDLED_SYMBOLS.items() if symbol in foreign]
        if len(self.symbols) > 1 and all(s in BUNDLED_SERIES for s in self.symbols):
            choices = "pick data 'bundled' (SPY and QQQ together)"
        elif len(other) == 1:
            choices = f"pick data '{other[0]}' or 'broker'"
        else:
            choices = "pick data 'broker'"
        raise field_error(
            ("symbols",),
            f"{names} {verb} not in the {self.data_source} data source, which holds {held} only; "
            f"{choices} to trade {'it' if len(foreign) == 1 else 'them'}",
            self.symbols,
        )

    def _broker_symbols(self) -> None:
        """The broker's own symbol spelling: stocks as plain tickers, crypto as BASE/QUOTE pairs."""
        if self.asset_class == "crypto":
            wrong = [s for s in self.symbols if not _BROKER_PAIR.match(s)]
            if wrong:
                raise field_error(
                    ("symbols",),
                    f"{', '.join(wrong)}: broker crypto symbols are BASE/QUOTE pairs, "
                    "e.g. BTC/USD on Alpaca or BTC/USDT on an exchange",
                    self.symbols,
                )
        else:
            wrong = [s for s in self.symbols if not _BROKER_STOCK.match(s)]
            if wrong:
                raise field_error(
                    ("symbols",),
                    f"{', '.join(wrong)}: broker stock symbols are plain tickers such as SPY or BRK.B "
                    "(for a pair such as BTC/USD set asset_class to 'crypto')",
                    self.symbols,
                )


class Model(Contract):
    """Step 4: the hidden Markov model that detects regimes."""

    n_states: int | Literal["auto"] = Field(
        default=3,
        description="Number of regimes the model distinguishes (2-6), or `auto`: chosen at each refit by BIC "
        f"among {AUTO_STATES[0]}-{AUTO_STATES[1]}.",
    )
    features: list[Feature] = Field(
        default_factory=lambda: ["log_return", "realized_vol"],  # type: ignore[arg-type]
        min_length=1,
        max_length=4,
        description="Inputs per bar: log_return, realized_vol, hl_range, volume_z.",
    )
    training_window: int = Field(default=756, ge=100, le=10_000, description="Bars used to fit the model (100-10000).")
    window_kind: WindowKind = Field(
        default="rolling", description="`rolling` keeps the last N bars; `expanding` keeps all."
    )
    refit_every: int = Field(default=21, ge=1, le=2_520, description="Refit the model every N bars (1-2520).")
    min_persistence: int = Field(
        default=5, ge=1, le=60, description="Bars a new regime must persist before the bot acts on it (1-60)."
    )
    prob_threshold: float = Field(
        default=0.6, ge=0.5, le=0.99, description="Minimum filtered probability to accept a regime (0.5-0.99)."
    )
    random_seed: int = Field(default=7, ge=0, le=2**31 - 1, description="Seed for reproducible fits.")
    scope: ModelScope = Field(
        default="reference",
        description="With several symbols: `reference` reads the regime from one series (`reference_symbol`) for "
        "every symbol; `per_symbol` fits a model to each symbol's own series.",
    )
    reference_symbol: str | None = Field(
        default=None,
        max_length=20,
        description="The series whose regime sets every symbol's exposure (scope `reference`); one of the symbols, "
        "the first when empty.",
    )

    @field_validator("reference_symbol")
    @classmethod
    def _reference_upper(cls, value: str | None) -> str | None:
        return value.strip().upper() or None if value is not None else None

    @field_validator("n_states", mode="before")
    @classmethod
    def _states_in_range(cls, value: Any) -> Any:
        """One plain message for every wrong value (a union would report each of its branches)."""
        if value == "auto":
            return value
        if isinstance(value, int) and not isinstance(value, bool) and 2 <= value <= 6:
            return value
        raise ValueError(f"use a number of regimes from 2 to 6, or 'auto' to choose at each refit (got {value!r})")

    @field_validator("features")
    @classmethod
    def _features_unique(cls, features: list[Feature]) -> list[Feature]:
        if len(set(features)) != len(features):
            raise ValueError("each feature may be listed once")
        return features

    @model_validator(mode="after")
    def _window_fits_states(self) -> Model:
        most = self.most_states
        needed = 30 * most
        if self.training_window < needed:
            raise ValueError(
                f"training_window of {self.training_window} bars is too short for {most} regimes: "
                f"use at least {needed} bars"
            )
        return self

    @property
    def most_states(self) -> int:
        """The largest number of regimes the model may have (``auto``: the top of its range)."""
        return AUTO_STATES[1] if self.n_states == "auto" else self.n_states


class StrategyRisk(Contract):
    """Step 5: how much to hold in each regime, and the hard limits."""

    exposure_per_regime: list[Annotated[float, Field(ge=-1, le=1)]] = Field(
        default_factory=lambda: [0.0, 1.0, 1.0],
        min_length=2,
        max_length=6,
        description="Target exposure for each regime, ordered from the most volatile regime (typically the "
        "crashes) to the calmest; -1 is fully short, 1 fully invested.",
    )
    max_position_pct: Percent = Field(default=100, description="Largest position as % of equity (0-100].")
    max_daily_loss_pct: Annotated[float, Field(gt=0, le=50)] = Field(
        default=3, description="Stop trading for the day after losing this % of equity (0-50]."
    )
    max_drawdown_pct: Annotated[float, Field(gt=0, le=90)] = Field(
        default=20,
        description="Drawdown halt: flatten at this % below peak equity (0-90]; trading resumes by the `rearm` rule, "
        "with the drawdown measured from the equity at the re-arm.",
    )
    rearm: RearmRule = Field(
        default="calm",
        description="How a drawdown halt ends: `calm` after `rearm_calm_bars` bars in a low-volatility regime; "
        "`new_high` when the strategy's signal has made back its loss since the halt; `manual` only when you re-arm "
        "it from the dashboard or the API.",
    )
    rearm_calm_bars: int = Field(default=10, ge=1, le=252, description="Calm bars before a `calm` re-arm (1-252).")
    rebalance_band_pct: Annotated[float, Field(ge=0, le=100)] = Field(
        default=10,
        description="No-trade band: rebalance only when the target exposure differs from the held one by more than "
        "this many % of equity (0-100; 0 rebalances every bar). Going flat is never held back.",
    )
    min_hold_bars: int = Field(
        default=0, ge=0, le=252, description="Minimum bars between two trades (0-252); exits and halts excepted."
    )
    stop_loss_pct: Annotated[float, Field(gt=0, le=50)] | None = Field(
        default=None, description="Close a position that loses this % from entry (0-50], or none."
    )
    vol_target_pct: Annotated[float, Field(gt=0, le=100)] | None = Field(
        default=None, description="Scale exposure to this annualised volatility %, or none."
    )
    weights: list[Annotated[float, Field(ge=0, le=1)]] | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="Capital weight of each symbol, in the order of `symbols` (each 0-1, summing to at most 1; the "
        "rest stays in cash); empty for equal weights. A symbol's target is its weight x its regime's exposure.",
    )

    @field_validator("weights")
    @classmethod
    def _weights_fit_the_account(cls, weights: list[float] | None) -> list[float] | None:
        if weights is not None and sum(weights) > 1 + WEIGHT_SLACK:
            shown = " + ".join(f"{w:g}" for w in weights)
            raise ValueError(f"weights add up to {sum(weights):g} ({shown}): they may add up to at most 1")
        return weights


class ScheduleReview(Contract):
    """Step 6: when the bot runs, who is notified of what, and the trader's confirmation."""

    run: RunSchedule = Field(
        default="after_close", description="`after_close` wakes once per bar close; `every_bar` runs continuously."
    )
    timezone: str = Field(default="America/New_York", max_length=64, description="IANA time zone for the schedule.")
    start_date: date | None = Field(default=None, description="First trading day; today when empty.")
    starting_cash: float = Field(default=100_000, ge=100, le=1_000_000_000, description="Paper account size.")
    notify: NotifySettings = Field(
        default_factory=NotifySettings, description="Which of your channels hear about which events; none by default."
    )
    confirmed: bool = Field(description="The trader reviewed the settings and accepts the risks.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value not in _timezones():
            raise ValueError(f"{value!r} is not an IANA time zone such as 'America/New_York' or 'UTC'")
        return value

    @field_validator("confirmed")
    @classmethod
    def _must_confirm(cls, value: bool) -> bool:
        if not value:
            raise ValueError("review the settings and confirm them before creating the bot")
        return value


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})


class BotProfile(Contract):
    """A complete bot: the six wizard steps together, checked against each other."""

    basics: Basics
    broker: Broker = Field(default_factory=Broker)
    market: Market
    model: Model = Field(default_factory=Model)
    strategy: StrategyRisk = Field(default_factory=StrategyRisk)
    schedule: ScheduleReview

    @model_validator(mode="after")
    def _steps_agree(self) -> BotProfile:
        """Checks spanning steps, each reported at the field to change."""
        exposures = self.strategy.exposure_per_regime
        if self.model.n_states != "auto" and len(exposures) != self.model.n_states:
            raise field_error(
                ("strategy", "exposure_per_regime"),
                f"{len(exposures)} exposures for {self.model.n_states} regimes: give one exposure per regime, "
                "most volatile regime first",
                exposures,
            )
        if self.basics.mode == "live" and self.broker.connection == "paper":
            raise field_error(
                ("basics", "mode"),
                "a live bot needs a broker connection: pick one in step 2 or switch to paper mode",
                self.basics.mode,
            )
        if self.basics.mode == "live" and self.market.data_source in REPLAY_SOURCES:
            raise field_error(
                ("market", "data_source"),
                "a live bot cannot trade on replayed historical data: choose data_source 'broker'",
                self.market.data_source,
            )
        if self.basics.surface == "hosted" and self.market.data_source == "file":
            raise field_error(
                ("market", "data_source"),
                "a hosted bot cannot read a file from your laptop: choose another data_source",
                self.market.data_source,
            )
        if self.market.asset_class == "stock" and any("/" in s for s in self.market.symbols):
            raise field_error(
                ("market", "symbols"),
                "stock symbols cannot contain '/': did you mean asset_class 'crypto'?",
                self.market.symbols,
            )
        self._portfolio_agrees()
        return self

    def _portfolio_agrees(self) -> None:
        symbols = self.market.symbols
        reference = self.model.reference_symbol
        if reference is not None and reference not in symbols:
            raise field_error(
                ("model", "reference_symbol"),
                f"reference series {reference} is not one of the bot's symbols ({', '.join(symbols)}): "
                "pick one of them or leave it empty for the first",
                reference,
            )
        weights = self.strategy.weights
        if weights is not None and len(symbols) == 1:
            raise field_error(
                ("strategy", "weights"),
                "weights share the account between the symbols of a portfolio: with one symbol leave them empty "
                "(to keep part of the account in cash, lower exposure_per_regime or max_position_pct)",
                weights,
            )
        if weights is not None and len(weights) != len(symbols):
            raise field_error(
                ("strategy", "weights"),
                f"{len(weights)} weights for {len(symbols)} symbols: give one weight per symbol, in the order "
                f"{', '.join(symbols)}, or leave weights empty for equal weights",
                weights,
            )


WIZARD_STEPS: dict[int, type[Contract]] = {
    1: Basics,
    2: Broker,
    3: Market,
    4: Model,
    5: StrategyRisk,
    6: ScheduleReview,
}
