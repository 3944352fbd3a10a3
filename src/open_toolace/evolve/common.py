"""Shared types of the evolve steps: items are internal example dicts, rejections are
`{"id", "step", "reason", "message", ...}` dicts."""

from __future__ import annotations

from typing import Any

Item = dict[str, Any]
Rejection = dict[str, Any]


def reject(item: Item, step: str, reason: str, message: str = "", **extra: Any) -> Rejection:
    """A rejection record: which item, at which step, why (a short code) and a human message."""
    return {"id": item.get("id"), "step": step, "reason": reason, "message": message, **extra}
