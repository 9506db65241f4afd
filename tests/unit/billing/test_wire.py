"""Stripe's bracketed form encoding decodes to the nested values the client sent."""

from __future__ import annotations

import pytest

from billing.emulator.wire import decode_form


def test_nested_keys_lists_and_blank_values() -> None:
    body = (
        "mode=subscription&line_items[0][price]=price_x&line_items[0][quantity]=1"
        "&metadata[user]=u1&expand[]=customer&expand[]=subscription&description="
    )
    assert decode_form(body) == {
        "mode": "subscription",
        "line_items": [{"price": "price_x", "quantity": "1"}],
        "metadata": {"user": "u1"},
        "expand": ["customer", "subscription"],
        "description": "",
    }


def test_a_value_and_nested_keys_under_one_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="mixes"):
        decode_form("metadata=x&metadata[a]=b")
