"""The wizard's form: one widget per profile field, with the help a trader needs beside it.

Keyed by the profile field each widget fills (see :data:`ui.wizard_steps.STEP_FIELDS`). The
css classes are part of the interface: the agent's and the web app's browser tests drive the
form by them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import panel as pn

from contracts.profile import LIVE_CONFIRMATION
from ui.wizard_portfolio import DATA_CHOICES, EQUAL, SCOPE_CHOICES
from ui.wizard_steps import BUILT_IN, NOTIFY_EVENT_WORDS


def form_widgets(surfaces: Sequence[str]) -> dict[str, Any]:
    """The form, keyed by the profile field each widget fills (css classes are what tests drive)."""
    w = pn.widgets
    return {
        "name": w.TextInput(name="Bot name", value="My first regime bot", css_classes=["wiz-name"]),
        "surface": w.Select(
            name="Runs on",
            options=list(surfaces),
            value=surfaces[0],
            css_classes=["wiz-surface"],
            description="local: on your own computer, with the HMM Trade agent. hosted: on our cloud, "
            "running when your computer is off (pro and team plans).",
        ),
        "mode": w.Select(name="Mode", options=["paper", "live"], value="paper", css_classes=["wiz-mode"]),
        "live_confirmation": w.TextInput(
            name=f"Live trading uses real money. Type exactly: {LIVE_CONFIRMATION}",
            placeholder=LIVE_CONFIRMATION,
            visible=False,
            css_classes=["wiz-live-confirm"],
        ),
        "connection": w.Select(
            name="Broker account", options={BUILT_IN: "paper"}, value="paper", css_classes=["wiz-connection-pick"]
        ),
        "symbols": w.TextInput(
            name="Symbols (several, separated by commas, make a portfolio)",
            value="SPY",
            placeholder="SPY · SPY, QQQ · BTC/USD (Alpaca) · BTC/USDT (exchange)",
            css_classes=["wiz-symbols"],
            description="One symbol, or several (up to 20) separated by commas or spaces to trade them together "
            "as one portfolio. The bundled data: sp500 is SPY, nasdaq is QQQ, bundled is both. With data "
            "'broker', stocks as tickers (SPY, BRK.B) and crypto as pairs (BTC/USD).",
        ),
        "bar_interval": w.Select(name="Bar", options=["1d", "4h", "1h", "15m", "5m", "1m"], value="1d"),
        "asset_class": w.Select(name="Asset class", options=["stock", "crypto"], value="stock"),
        "data_source": w.Select(
            name="Data",
            options=DATA_CHOICES,
            value="sp500",
            css_classes=["wiz-data-source"],
            description="sp500 / nasdaq: bundled daily bars 1999-2018, replayed; bundled: both, as SPY and QQQ, "
            "for a two-symbol portfolio. broker: live bars from the account in step 2. file: a CSV or Parquet "
            "file on the computer running the bot.",
        ),
        "data_file": w.TextInput(
            name="Bar file (data 'file' only)",
            value="",
            css_classes=["wiz-data-file"],
            description="With several symbols, one file each: write {symbol} where the symbol's name goes, e.g. "
            "data/{symbol}.csv reads data/SPY.csv and data/QQQ.csv ('/' in a pair becomes '-': BTC-USD).",
        ),
        "n_states": w.IntInput(
            name="Regimes",
            value=3,
            start=1,
            end=9,
            css_classes=["wiz-states"],
            description="How many market regimes the model tells apart (2-6), e.g. calm, choppy, crisis.",
        ),
        "auto_states": w.Checkbox(
            name="Choose the number of regimes automatically (2-4, by BIC at each refit)",
            value=False,
            css_classes=["wiz-auto-states"],
        ),
        "features": w.MultiChoice(
            name="Features",
            options=["log_return", "realized_vol", "hl_range", "volume_z"],
            value=["log_return", "realized_vol"],
        ),
        "training_window": w.IntInput(
            name="Training window (bars)",
            value=756,
            css_classes=["wiz-window"],
            description="Bars the model is fitted on; at least 30 per regime.",
        ),
        "refit_every": w.IntInput(name="Refit every (bars)", value=21),
        "min_persistence": w.IntInput(
            name="Min persistence (bars)",
            value=5,
            description="A new regime must last this many bars in a row before the bot trades on it: "
            "higher means fewer trades on brief flickers, but later reactions.",
        ),
        "prob_threshold": w.FloatInput(
            name="Probability threshold",
            value=0.6,
            step=0.05,
            description="How sure the model must be (0.5-0.99) that the market is in a regime before the "
            "bot acts on it; below it the bot keeps its position.",
        ),
        "scope": w.Select(
            name="Regime read from (several symbols)",
            options=SCOPE_CHOICES,
            value="reference",
            visible=False,
            css_classes=["wiz-scope"],
            description="One model on a reference series (e.g. SPY for a basket of stocks) gives every symbol "
            "the same regime, and is quick to fit. A model per symbol reads each symbol's own regime; it costs "
            "one fit per symbol.",
        ),
        "reference_symbol": w.Select(
            name="Reference series",
            options=["SPY"],
            value="SPY",
            visible=False,
            css_classes=["wiz-reference"],
            description="The symbol whose regime sets every symbol's exposure.",
        ),
        "exposure_per_regime": w.TextInput(
            name="Exposure per regime (most volatile regime first)",
            value="0, 1, 1",
            css_classes=["wiz-exposure"],
            description="One number per regime, from the most volatile (crashes) to the calmest: the share of "
            "equity to hold, 1 = fully invested, 0.5 = half, 0 = flat, -1 = fully short. E.g. 0, 0.5, 1 for 3 regimes.",
        ),
        "weights": w.TextInput(
            name="Capital weights (% of equity per symbol)",
            value=EQUAL,
            visible=False,
            css_classes=["wiz-weights"],
            description=f"'{EQUAL}' splits the capital evenly. Otherwise one percentage per symbol, in the order "
            "of the symbols, e.g. 60, 40; they may add up to less than 100%, the rest stays in cash. A symbol's "
            "target is its weight x its regime's exposure; the risk limits apply to the whole portfolio.",
        ),
        "max_position_pct": w.FloatInput(name="Max position (% of equity)", value=100),
        "max_daily_loss_pct": w.FloatInput(name="Max daily loss (%)", value=3, css_classes=["wiz-daily-loss"]),
        "max_drawdown_pct": w.FloatInput(
            name="Max drawdown (%, halt)",
            value=20,
            css_classes=["wiz-drawdown"],
            description="The bot flattens when equity falls this far below its peak, and stays flat until the "
            "halt re-arms by the rule below; the drawdown then counts from the equity at the re-arm, so in a long "
            "fall the loss from the all-time peak can exceed this limit (only 'manual' cannot).",
        ),
        "rearm": w.Select(
            name="Re-arm after a drawdown halt",
            options={
                "calm: after N calm bars in a low-volatility regime": "calm",
                "new_high: when the signal has made back its loss since the halt": "new_high",
                "manual: only when I re-arm it (stays flat until then)": "manual",
            },
            value="calm",
            css_classes=["wiz-rearm"],
            description="calm waits for the storm to pass; new_high waits for the strategy's own signal to prove "
            "itself again (tracked on paper while flat); manual keeps the bot flat until you press Re-arm.",
        ),
        "rearm_calm_bars": w.IntInput(name="Calm bars to re-arm (rule 'calm')", value=10, start=1, end=252),
        "stop_loss_pct": w.TextInput(name="Stop loss (%, empty: none)", value=""),
        "rebalance_band_pct": w.FloatInput(
            name="No-trade band (% of equity)",
            value=10,
            step=1,
            css_classes=["wiz-band"],
            description="Trade only when the target exposure differs from what the bot holds by more than this: "
            "fewer, cheaper trades. 0 rebalances every bar. Going flat is never held back.",
        ),
        "min_hold_bars": w.IntInput(
            name="Minimum holding time (bars)",
            value=0,
            start=0,
            end=252,
            description="Bars to wait after a trade before the next one; exits and halts are never delayed.",
        ),
        "run": w.Select(name="Run", options=["after_close", "every_bar"], value="after_close", css_classes=["wiz-run"]),
        "timezone": w.TextInput(name="Time zone", value="America/New_York"),
        "starting_cash": w.FloatInput(name="Starting cash ($)", value=100_000),
        "notify_channels": w.MultiChoice(
            name="Notify on (optional)",
            options={},
            css_classes=["wiz-notify-channels"],
            description="Your notification channels: a webhook, an email address or a Telegram chat. "
            "Make them on the Notifications page (or in the agent's settings).",
        ),
        "notify_events": w.MultiChoice(
            name="Notify about",
            options={words: kind for kind, words in NOTIFY_EVENT_WORDS.items()},
            css_classes=["wiz-notify-events"],
            description="Nothing is sent unless you pick at least one channel and one event.",
        ),
    }
