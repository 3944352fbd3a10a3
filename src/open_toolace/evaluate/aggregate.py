"""Scores from scored result rows: per-category accuracy, BFCL's group aggregates, an overall over what ran.

Formulas (also in docs/evaluation.md); every aggregate uses only the categories that were run and lists them
under `over`, so a partial run never silently counts a missing category as 0 (BFCL's leaderboard does):

- category accuracy = correct / items.
- simple          = unweighted mean of the simple_* languages run (python, java, javascript).
- non_live_ast    = unweighted mean of {simple, multiple, parallel, parallel_multiple} that were run.
- live_ast        = item-weighted mean of live_simple, live_multiple, live_parallel, live_parallel_multiple run.
- irrelevance     = unweighted mean of irrelevance and live_irrelevance run (BFCL's verdict: unparseable
  output counts as a correct abstention); irrelevance_honest: the same mean of the honest numbers.
- relevance       = live_relevance.
- overall         = unweighted mean of {non_live_ast, live_ast, irrelevance} that were run — BFCL's overall
  restricted to single-turn (its weights for these three are equal); overall_honest uses irrelevance_honest.
- all_items       = correct / items over every item run (a micro-average; the only summary for custom data).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from open_toolace.evaluate.bfcl import is_irrelevance

SIMPLE = ["simple_python", "simple_java", "simple_javascript"]
NON_LIVE_PARTS = ["multiple", "parallel", "parallel_multiple"]
LIVE_AST = ["live_simple", "live_multiple", "live_parallel", "live_parallel_multiple"]
IRRELEVANCE = ["irrelevance", "live_irrelevance"]


def category_scores(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`{category: {total, correct, accuracy, error_types: {type: count}[, honest_correct, honest_accuracy]}}`."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        c = out.setdefault(row["category"], {"total": 0, "correct": 0, "error_types": Counter()})
        c["total"] += 1
        if row["valid"]:
            c["correct"] += 1
        else:
            c["error_types"][row.get("error_type") or "unknown"] += 1
        if is_irrelevance(row["category"]):
            c["honest_correct"] = c.get("honest_correct", 0) + int(bool(row.get("honest_valid")))
    for c in out.values():
        c["accuracy"] = c["correct"] / c["total"]
        if "honest_correct" in c:
            c["honest_accuracy"] = c["honest_correct"] / c["total"]
        c["error_types"] = dict(c["error_types"].most_common())
    return out


def _metric(accuracy: float, over: list[str], n: int, formula: str) -> dict[str, Any]:
    return {"accuracy": accuracy, "over": over, "items": n, "formula": formula}


def _unweighted(parts: dict[str, dict[str, Any]], formula: str) -> dict[str, Any] | None:
    if not parts:
        return None
    acc = sum(p["accuracy"] for p in parts.values()) / len(parts)
    return _metric(acc, list(parts), sum(p["items"] for p in parts.values()), formula)


def summarize(cats: dict[str, dict[str, Any]], bfcl_groups: bool = True) -> dict[str, dict[str, Any]]:
    """Aggregates over the categories present in `cats` (output of `category_scores`).

    `bfcl_groups=False` (custom datasets, whose category names only pick the checker mode) drops BFCL's
    benchmark groups (simple, non_live_ast, live_ast, relevance, overall) and keeps the rest."""

    def one(name: str, key: str = "accuracy") -> dict[str, Any]:
        return _metric(cats[name][key], [name], cats[name]["total"], name)

    s: dict[str, dict[str, Any]] = {}
    simple = _unweighted(
        {c: one(c) for c in SIMPLE if c in cats}, "unweighted mean of simple_* languages run"
    )
    if simple:
        s["simple"] = simple
    parts = {"simple": simple} if simple else {}
    parts.update({c: one(c) for c in NON_LIVE_PARTS if c in cats})
    non_live = _unweighted(parts, "unweighted mean of simple, multiple, parallel, parallel_multiple run")
    if non_live:
        s["non_live_ast"] = non_live
    live = [c for c in LIVE_AST if c in cats]
    if live:
        n = sum(cats[c]["total"] for c in live)
        s["live_ast"] = _metric(
            sum(cats[c]["correct"] for c in live) / n,
            live,
            n,
            "item-weighted mean of live AST categories run",
        )
    irr = _unweighted(
        {c: one(c) for c in IRRELEVANCE if c in cats},
        "BFCL verdict (unparseable output = abstention); unweighted mean of irrelevance categories run",
    )
    if irr:
        s["irrelevance"] = irr
        s["irrelevance_honest"] = _unweighted(
            {c: one(c, "honest_accuracy") for c in IRRELEVANCE if c in cats},
            "honest: only an empty call list or refusal prose counts; unweighted mean of irrelevance categories run",
        )
    if "live_relevance" in cats:
        s["relevance"] = one("live_relevance")
    for key, irr_key in (("overall", "irrelevance"), ("overall_honest", "irrelevance_honest")):
        groups = {g: s[g] for g in ("non_live_ast", "live_ast", irr_key) if g in s}
        if groups:
            s[key] = _unweighted(groups, f"over what was run: unweighted mean of {', '.join(groups)}")
    if not bfcl_groups:
        s = {k: v for k, v in s.items() if k in ("irrelevance", "irrelevance_honest")}
    if cats:
        total = sum(c["total"] for c in cats.values())
        s["all_items"] = _metric(
            sum(c["correct"] for c in cats.values()) / total,
            list(cats),
            total,
            "micro-average: correct / items over every item run",
        )
    return s


def compute_scores(rows: Iterable[dict[str, Any]], bfcl_groups: bool = True) -> dict[str, Any]:
    """`{"categories": category_scores, "summary": summarize}` for scored result rows."""
    cats = category_scores(rows)
    return {"categories": cats, "summary": summarize(cats, bfcl_groups)}
