"""The internal example record every stage reads and writes (JSONL, one example per line).

    {"id": str,
     "messages": [{"role": "system"|"user"|"assistant"|"tool", "content": str}],   # up to the turn to predict
     "tools": [Tool.to_dict()],                                                     # what the model may call
     "calls": [{"name": str, "arguments": {...}}] | [] | null,                      # [] = answer without a call,
     "meta": {"source": str, ...}}                                                  # null = unlabeled

The last message is the one the assistant answers: a user turn, or a tool result when the gold answer is
a follow-up call made after seeing that result. Earlier assistant calls appear in `messages` rendered
with `render_calls(style="auto")` (pythonic `[f(a=1)]`, JSON when a name is not an identifier), so a
history looks like what the model itself would write.

Readers that cannot turn a source record into an example yield a `Reject` instead; nothing is dropped
without a trace.
"""

from __future__ import annotations

import math
from typing import Any, TypedDict

ROLES = ("system", "user", "assistant", "tool")
# The turn to predict follows a user turn or a tool result (a follow-up call after an observation).
LAST_ROLES = ("user", "tool")


class Reject(TypedDict, total=False):
    """A source record (or one turn of it) that could not become an example, and why.

    `line` is the 1-based line where the record starts in its file, `reason` a short machine code that
    summaries count, `detail` a sentence for a person, `record` the offending source record.
    """

    line: int
    reason: str
    record: Any
    detail: str
    index: int
    turn: int


def is_reject(item: dict) -> bool:
    """Readers yield examples and rejects from one iterator; rejects have a `reason` and no `messages`."""
    return "reason" in item and "messages" not in item


def make_reject(line: int, reason: str, record: Any, detail: str = "", **extra: Any) -> Reject:
    rej: Reject = {"line": line, "reason": reason, "record": record}
    if detail:
        rej["detail"] = detail
    rej.update(extra)  # type: ignore[typeddict-item]
    return rej


def _as_dict(obj: Any) -> dict:
    """Tool / ToolCall objects and plain dicts are both accepted; records store plain dicts."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def make_example(
    id: str,
    messages: list[dict],
    tools: list[Any],
    calls: list[Any] | None,
    **meta: Any,
) -> dict:
    """Build an example record; `tools` may be `Tool`s or dicts, `calls` `ToolCall`s, dicts, `[]` or `None`."""
    return {
        "id": str(id),
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "tools": [_as_dict(t) for t in tools],
        "calls": None if calls is None else [_as_dict(c) for c in calls],
        "meta": meta,
    }


def _json_safe(value: Any) -> bool:
    """Arguments must survive a JSON round trip unchanged (no NaN, tuples become lists, str keys)."""
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_json_safe(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_safe(v) for k, v in value.items())
    return False


def validate_example(d: Any) -> list[str]:
    """Problems with a record, as sentences; `[]` means it is a valid example."""
    if not isinstance(d, dict):
        return [f"record is a {type(d).__name__}, not an object"]
    problems: list[str] = []
    if not isinstance(d.get("id"), str) or not d.get("id"):
        problems.append("'id' must be a non-empty string")
    msgs = d.get("messages")
    if not isinstance(msgs, list) or not msgs:
        problems.append("'messages' must be a non-empty list")
    else:
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                problems.append(f"messages[{i}] must be {{'role': one of {ROLES}, 'content': str}}")
        last = msgs[-1]
        if isinstance(last, dict) and last.get("role") in ROLES and last["role"] not in LAST_ROLES:
            problems.append(f"the last message must be a user or tool turn, not {last['role']!r}")
    tools = d.get("tools")
    if not isinstance(tools, list):
        problems.append("'tools' must be a list (possibly empty)")
    else:
        for i, t in enumerate(tools):
            if not (
                isinstance(t, dict)
                and isinstance(t.get("name"), str)
                and isinstance(t.get("parameters"), dict)
            ):
                problems.append(f"tools[{i}] must be a tool object with 'name' and 'parameters'")
    calls = d.get("calls", "missing")
    if calls == "missing":
        problems.append("'calls' is missing (use [] for 'no call' and null for unlabeled)")
    elif calls is not None:
        if not isinstance(calls, list):
            problems.append("'calls' must be a list or null")
        else:
            for i, c in enumerate(calls):
                if not (
                    isinstance(c, dict)
                    and isinstance(c.get("name"), str)
                    and isinstance(c.get("arguments"), dict)
                ):
                    problems.append(f"calls[{i}] must be {{'name': str, 'arguments': object}}")
                elif not _json_safe(c["arguments"]):
                    problems.append(
                        f"calls[{i}].arguments is not JSON-safe (NaN/inf, non-string keys or objects)"
                    )
    meta = d.get("meta")
    if not isinstance(meta, dict) or not isinstance(meta.get("source"), str):
        problems.append("'meta' must be an object with a 'source' string")
    return problems


def example_query(ex: dict) -> str:
    """The user request an example answers: the content of its last user message ('' if none)."""
    for m in reversed(ex.get("messages") or []):
        if m.get("role") == "user":
            return m.get("content", "")
    return ""


def example_user_text(ex: dict) -> str:
    """All user turns joined: what the grounding check compares argument values against."""
    return "\n".join(m["content"] for m in ex.get("messages") or [] if m.get("role") == "user")


def call_message(calls: list[Any], fallback: str) -> dict:
    """An earlier assistant call turn as a history message: `render_calls` text (pythonic when names allow,
    else JSON), or the source text if the calls cannot be rendered (e.g. a NaN argument)."""
    from open_toolace.formats import render_calls

    try:
        return {"role": "assistant", "content": render_calls(calls, style="auto")}
    except ValueError:
        return {"role": "assistant", "content": fallback}
