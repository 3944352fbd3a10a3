"""The HF `datasets` view of examples, and back.

Arrow needs one schema per column, but tool parameter schemas and call arguments differ from row to row
(a property is a string here, an object there). So the HF view keeps `messages` as real structs
(`[{"role", "content"}]`, homogeneous) and stores `tools`, `calls` and `meta` as JSON strings:

    {"id": str, "messages": [{"role": str, "content": str}], "tools": "<JSON list>",
     "calls": "<JSON list>" | None, "meta": "<JSON object>"}

`calls` stays `None` for unlabeled rows, so `[]` ("no call") and `None` remain distinct. `from_hf_row`
turns a row back into the internal record (exactly: JSON round trip).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

JSON_COLUMNS = ("tools", "calls", "meta")


def to_hf_row(ex: dict) -> dict[str, Any]:
    return {
        "id": ex["id"],
        "messages": [{"role": m["role"], "content": m["content"]} for m in ex["messages"]],
        "tools": json.dumps(ex.get("tools") or [], ensure_ascii=False),
        "calls": None if ex.get("calls") is None else json.dumps(ex["calls"], ensure_ascii=False),
        "meta": json.dumps(ex.get("meta") or {}, ensure_ascii=False),
    }


def from_hf_row(row: dict) -> dict[str, Any]:
    """An HF row (as `to_hf_dataset` made it) -> the internal example record."""
    return {
        "id": row["id"],
        "messages": [{"role": m["role"], "content": m["content"]} for m in row["messages"]],
        "tools": json.loads(row["tools"]),
        "calls": None if row["calls"] is None else json.loads(row["calls"]),
        "meta": json.loads(row["meta"]),
    }


def to_hf_dataset(examples: Iterable[dict]):
    """A `datasets.Dataset` of the examples (JSON-string columns for tools/calls/meta, see module doc)."""
    import datasets

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "messages": [{"role": datasets.Value("string"), "content": datasets.Value("string")}],
            "tools": datasets.Value("string"),
            "calls": datasets.Value("string"),
            "meta": datasets.Value("string"),
        }
    )
    rows = [to_hf_row(ex) for ex in examples]
    return datasets.Dataset.from_list(rows, features=features)
