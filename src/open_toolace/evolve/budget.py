"""Invocation budgets sized to answers: a round's cap per query type covers the longest seed answer of that type.

Invocation sampling stops at the `]` that closes the call list (the backends' `stop_at_call_end`), so a
generous cap costs nothing on a row that answers; it only bounds a row that never closes its list. A cap
below the longest answer, on the other hand, cuts real answers: at 80 new tokens 15 of 37 parallel and 18 of
48 parallel_multiple seed answers were cut in the demo, and 30% of round queries are parallel. So the cap of
each query type is the longest seed answer of that type, plus a margin, rounded up to a multiple of 8.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from open_toolace.formats import ToolCall, render_calls
from open_toolace.training.mixture import estimate_tokens

# A query whose type the seed never shows (or an unlabeled pool without `meta.type`) gets the longest cap.
ANY_TYPE = "*"


def _answer_text(example: dict) -> str | None:
    calls = example.get("calls")
    if not calls:  # unlabeled, or an abstention: `[]` never sets a budget
        return None
    try:
        return render_calls([ToolCall.from_dict(c) for c in calls])
    except (ValueError, TypeError, KeyError):
        return None


def answer_budgets(
    examples: Iterable[dict],
    count_tokens: Callable[[list[str]], int],
    margin: int = 16,
    floor: int = 32,
    cap: int = 512,
) -> dict[str, int]:
    """`{query type: max new tokens}` from labeled examples (`meta.type`: single, parallel, ...), plus
    `ANY_TYPE` (the longest of all). `count_tokens(texts)` counts tokens with the model's tokenizer (the
    generators' `count_tokens`). Each cap is `longest answer + margin`, rounded up to a multiple of 8,
    within [floor, cap]."""
    longest: dict[str, int] = {}
    for ex in examples:
        text = _answer_text(ex)
        if text is None:
            continue
        kind = str((ex.get("meta") or {}).get("type") or ANY_TYPE)
        n = count_tokens([text])
        longest[kind] = max(longest.get(kind, 0), n)
        longest[ANY_TYPE] = max(longest.get(ANY_TYPE, 0), n)
    return {k: min(cap, max(floor, 8 * math.ceil((n + margin) / 8))) for k, n in sorted(longest.items())}


def budget_for(item: dict, budgets: dict[str, int], default: int) -> int:
    """The cap of one round item: its type's budget, else the longest (`ANY_TYPE`), else `default`."""
    kind = (item.get("meta") or {}).get("type")
    return budgets.get(str(kind), budgets.get(ANY_TYPE, default))


def group_by_budget(items: Sequence[dict], budgets: dict[str, int], default: int) -> dict[int, list[int]]:
    """Indices of `items` grouped by their cap (one generate call per group, so a cap is per request)."""
    groups: dict[int, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(budget_for(it, budgets, default), []).append(i)
    return dict(sorted(groups.items()))


def counter_of(generator: Any) -> Callable[[list[str]], int]:
    """The generator's `count_tokens` if it has one (hf), else ~4 characters a token."""
    fn = getattr(generator, "count_tokens", None)
    return fn if callable(fn) else (lambda texts: sum(estimate_tokens(t) for t in texts))
