"""`Reason`: one typed finding of the rule checker (a code plus a message a person can act on)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

MAX_SCHEMA_ERRORS = 5  # schema errors reported per value (the rest add nothing a person can act on)


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    call: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Reason:
        return cls(d["code"], d["message"], d.get("call"))


def reason_counts(reasons: list[Reason]) -> dict[str, int]:
    """``{code: count}``, most frequent first."""
    return dict(Counter(r.code for r in reasons).most_common())


def short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[:limit] + "..."
