"""Stripe's v1 request encoding: bracketed form keys to nested values.

``line_items[0][price]=p&metadata[k]=v&expand[]=x`` becomes
``{"line_items": [{"price": "p"}], "metadata": {"k": "v"}, "expand": ["x"]}``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode_form(body: str) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        match = _KEY.match(raw_key)
        if match is None:
            raise ValueError(f"malformed parameter name {raw_key!r}")
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        _assign(root, parts, value)
    result: dict[str, Any] = _listify(root)
    return result


def _assign(node: dict[str, Any], parts: list[str], value: str) -> None:
    for part in parts[:-1]:
        key = part if part != "" else str(len(node))
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ValueError(f"parameter {'.'.join(parts)} mixes a value and nested keys")
        node = child
    last = parts[-1]
    node[last if last != "" else str(len(node))] = value


def _listify(value: Any) -> Any:
    """Dicts whose keys are 0..n-1 become lists (Stripe's array encoding)."""
    if not isinstance(value, dict):
        return value
    converted = {k: _listify(v) for k, v in value.items()}
    if converted and all(k.isdigit() for k in converted):
        indexes = sorted(int(k) for k in converted)
        if indexes == list(range(len(indexes))):
            return [converted[str(i)] for i in indexes]
    return converted
