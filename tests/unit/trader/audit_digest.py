"""Digests of an audit, and the first record where two audits part, for the golden tests.

A digest is the record count, the sha256 of the whole audit (every line as ``trader.audit.encode``
writes it, newline-terminated, as a JSONL sink does) and a short sha256 per record, so a
failing comparison names the first record that differs even when only digests are pinned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

RECORD_DIGEST_CHARS = 16


def audit_bytes(lines: Sequence[str]) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


def record_digest(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()[:RECORD_DIGEST_CHARS]


def digest(lines: Sequence[str]) -> dict[str, Any]:
    """What a golden file pins about an audit."""
    return {
        "records": len(lines),
        "sha256": hashlib.sha256(audit_bytes(lines)).hexdigest(),
        "per_record": [record_digest(line) for line in lines],
    }


def first_difference(now: Sequence[str], pinned_per_record: Sequence[str], pinned_lines: Sequence[str] = ()) -> str:
    """Where the audit ``now`` first departs from the pinned one, for the assertion message ('' if nowhere).

    With the pinned lines at hand it also names the top-level fields of that record that differ.
    """
    for index, (line, pinned) in enumerate(zip(now, pinned_per_record, strict=False)):
        if record_digest(line) == pinned:
            continue
        seq = json.loads(line).get("seq")
        where = f"record {index} (seq {seq}) differs first"
        if index < len(pinned_lines):
            record_now, record_then = json.loads(line), json.loads(pinned_lines[index])
            fields = sorted(
                k for k in record_now.keys() | record_then.keys() if record_now.get(k) != record_then.get(k)
            )
            where += f" in {', '.join(fields)}: now {line[:300]} ... pinned {pinned_lines[index][:300]}"
        return where
    if len(now) != len(pinned_per_record):
        agreeing = min(len(now), len(pinned_per_record))
        return f"the first {agreeing} records agree, but there are {len(now)} records, {len(pinned_per_record)} pinned"
    return ""
