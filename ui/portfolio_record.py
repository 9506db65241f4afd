"""Reading a portfolio bot's audit record: the book at the top, one section per symbol and per model.

A one-symbol record is flat (``regime``, ``target``, ``position``, ``bar.close`` at the top). A
portfolio record (see ``docs/portfolios.md``, "Portfolio record layout") keeps the book at the
top (``equity``, ``cash``, ``positions``, ``risk``, ``orders``, ``fills``) and the rest in two
sections: ``symbols.<S>`` (its bar, weight, target, risk verdict, position, exposure, and the
name of the model it follows) and ``models.<S>`` (features, probabilities, regime, confidence):
with one reference model, every symbol points at the same model, written once.

The audit viewer and the live charts read both layouts through this module: the headline
values of a portfolio (the book's target, the one model's regime), one row per symbol, and
the one symbol the price chart draws (:func:`chart_view`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contracts.events import AuditRecord
from ui import format as fmt
from ui.regimes import regime_color, regime_name


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def is_portfolio(detail: Mapping[str, Any]) -> bool:
    """The record is a portfolio's (it has a section per symbol)."""
    return isinstance(detail.get("symbols"), dict)


@dataclass(frozen=True)
class SymbolLine:
    """One symbol's part of a portfolio decision, as the record holds it."""

    symbol: str
    model: str | None
    weight: float | None
    regime: int | None
    confidence: float | None
    target: float | None
    approved: float | None
    risk: str
    reasons: tuple[str, ...]
    held: str | None
    position: float | None
    exposure: float | None
    close: float | None


def symbol_lines(detail: Mapping[str, Any], order: Sequence[str] | None = None) -> list[SymbolLine]:
    """One line per symbol, in ``order`` (the bot's symbols, as the trader typed them and their
    weights) when given: a record read back from JSON has its symbols sorted by name."""
    models = _dict(detail.get("models"))
    lines = []
    for symbol, part in _dict(detail.get("symbols")).items():
        section = _dict(part)
        model_name = section.get("model")
        model = _dict(models.get(model_name)) if isinstance(model_name, str) else {}
        risk = _dict(section.get("risk"))
        regime = model.get("regime")
        held = section.get("held")
        lines.append(
            SymbolLine(
                symbol=str(symbol),
                model=model_name if isinstance(model_name, str) else None,
                weight=_number(section.get("weight")),
                regime=regime if isinstance(regime, int) and not isinstance(regime, bool) else None,
                confidence=_number(model.get("confidence")),
                target=_number(section.get("target")),
                approved=_number(risk.get("approved")),
                risk=str(risk.get("status") or ""),
                reasons=tuple(str(r) for r in risk.get("reasons") or ()),
                held=held if isinstance(held, str) else None,
                position=_number(section.get("position")),
                exposure=_number(section.get("exposure")),
                close=_number(_dict(section.get("bar")).get("close")),
            )
        )
    if order:
        rank = {symbol: n for n, symbol in enumerate(order)}
        lines.sort(key=lambda line: rank.get(line.symbol, len(rank)))
    return lines


def _sum(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


@dataclass(frozen=True)
class BookHeadline:
    """A portfolio record's headline values: the book's, and the regime when one model reads it."""

    regime: int | None
    confidence: float | None
    target: float | None
    approved: float | None
    risk: str


def _one_model(detail: Mapping[str, Any]) -> tuple[int | None, float | None] | None:
    """The regime and confidence of a portfolio's only model; None when each symbol has its own."""
    models = _dict(detail.get("models"))
    if len(models) != 1:
        return None
    only = _dict(next(iter(models.values())))
    regime = only.get("regime")
    return (regime if isinstance(regime, int) and not isinstance(regime, bool) else None), _number(
        only.get("confidence")
    )


def book_headline(record: AuditRecord) -> BookHeadline:
    """The book's target and approved exposure (the sums over its symbols), its risk status, and the
    regime and confidence of its one model (none when each symbol has its own)."""
    detail = record.detail
    lines = symbol_lines(detail)
    # the bus envelope's regime is the lead model's (trader.records.headline): with a model per symbol
    # it is the first symbol's, not the book's, so it is not shown as the book's
    regime, confidence = _one_model(detail) or (None, None)
    return BookHeadline(
        regime=regime,
        confidence=confidence,
        target=_sum([line.target for line in lines]),
        approved=_sum([line.approved for line in lines]),
        risk=str(_dict(detail.get("risk")).get("status") or ""),
    )


def regimes_of(record: AuditRecord) -> set[int]:
    """The regimes a record was read in, for the regime filter: a portfolio's, every model's."""
    if not is_portfolio(record.detail):
        return set() if record.regime is None else {record.regime}
    models = _dict(record.detail.get("models")).values()
    return {r for m in models if isinstance(r := _dict(m).get("regime"), int) and not isinstance(r, bool)}


def chart_symbol(symbols: Sequence[str], scope: str | None = None, reference: str | None = None) -> str:
    """The symbol a bot's price chart draws: its reference series when one model reads it, else the first."""
    if scope in (None, "reference") and reference in symbols:
        return str(reference)
    return symbols[0] if symbols else "price"


def chart_view(record: AuditRecord, symbol: str | None) -> AuditRecord:
    """A portfolio record as the one-symbol charts read it: ``symbol``'s close (the first symbol's when
    it is not in the book) under the regime and probabilities of the model it follows, with the book's
    equity and risk. A one-symbol record is returned as it is."""
    detail = record.detail
    if not is_portfolio(detail):
        return record
    sections = _dict(detail.get("symbols"))
    if not sections:
        return record
    shown = symbol if symbol in sections else next(iter(sections))
    section = _dict(sections[shown])
    model = _dict(_dict(detail.get("models")).get(str(section.get("model"))))
    regime = model.get("regime")
    probabilities = model.get("probabilities")
    flat = {
        "seq": record.seq,
        "bar": _dict(section.get("bar")),
        "regime": regime,
        "confidence": model.get("confidence"),
        "risk": _dict(detail.get("risk")),
        "position": section.get("position"),
    }
    return record.model_copy(
        update={
            "regime": regime if isinstance(regime, int) and not isinstance(regime, bool) else None,
            "probabilities": list(probabilities) if isinstance(probabilities, list) else [],
            "detail": flat,
        }
    )


_TABLE_CSS = (
    "<style>.book-symbols{border-collapse:collapse;font-size:13px;margin:6px 0}"
    ".book-symbols th,.book-symbols td{padding:3px 12px 3px 0;text-align:right}"
    ".book-symbols th:first-child,.book-symbols td:first-child,.book-symbols td.regime,.book-symbols th.regime,"
    ".book-symbols td.risk,.book-symbols th.risk{text-align:left}"
    ".book-symbols thead th{border-bottom:1px solid #999;color:#444}</style>"
)


def symbols_table(
    detail: Mapping[str, Any], exposures: Sequence[float] | None, order: Sequence[str] | None = None
) -> str:
    """One row per symbol (weight, regime by name, confidence, target, approved, risk, position, share
    of equity, close), as HTML under a portfolio record's headline and on the live page."""
    rows = []
    for line in symbol_lines(detail, order):
        color = regime_color(line.regime, exposures)
        risk = html.escape(line.risk or fmt.MISSING)
        if line.reasons:
            risk += f": {html.escape(line.reasons[0])}"
        elif line.held:  # the engine's own words, in full on hover
            risk += f' · <span title="{html.escape(line.held)}">no trade</span>'
        rows.append(
            f'<tr data-symbol="{html.escape(line.symbol)}"><td><b>{html.escape(line.symbol)}</b></td>'
            f"<td>{fmt.pct(line.weight, decimals=0)}</td>"
            f'<td class="regime" style="color:{color}">{html.escape(regime_name(line.regime, exposures))}</td>'
            f"<td>{fmt.pct(line.confidence)}</td>"
            f"<td>{fmt.pct(line.target, decimals=0)}</td><td>{fmt.pct(line.approved, decimals=0)}</td>"
            f'<td class="risk">{risk}</td>'
            f"<td>{fmt.quantity(line.position)}</td><td>{fmt.pct(line.exposure)}</td>"
            f"<td>{fmt.price(line.close)}</td></tr>"
        )
    head = "".join(
        f'<th class="{c}">{label}</th>' if c else f"<th>{label}</th>"
        for c, label in (
            ("", "symbol"),
            ("", "weight"),
            ("regime", "regime"),
            ("", "confidence"),
            ("", "target"),
            ("", "approved"),
            ("risk", "risk"),
            ("", "position"),
            ("", "of equity"),
            ("", "close"),
        )
    )
    return (
        f'{_TABLE_CSS}<table class="book-symbols"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )
