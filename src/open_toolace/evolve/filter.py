"""Filtering steps of a round: majority vote over normalized valid samples, rule filter, audit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from open_toolace.checks import check_calls
from open_toolace.checks.reasons import Reason
from open_toolace.data.records import example_query
from open_toolace.evolve.common import Item, Rejection, reject
from open_toolace.evolve.relax import relax_tools
from open_toolace.formats import CallParseError, ToolCall, canonical_calls, parse_calls
from open_toolace.formats.grounding import unused_numbers
from open_toolace.formats.normalize import normalize_calls
from open_toolace.formats.tools import Tool, as_tool

# ----------------------------------------------------------------------------- vote


@dataclass
class Vote:
    """Outcome of a majority vote over k samples. `winner is None` means dropped, and `reason` says why.

    Only valid samples vote (parsed, and passing the rule checker when tools were given); the others are
    counted in `invalid` by reason. Samples vote for their normalized class (`formats.normalize_calls`);
    the winner is the most frequent exact answer inside the winning class."""

    winner: list[ToolCall] | None
    agreement: float  # votes of the winning (or top) class / valid samples; 0.0 when none is valid
    votes: int  # valid samples in the top class
    total: int  # k: every sample, valid or not
    reason: str | None = None  # VOTE_REASONS below, None when there is a winner
    counts: dict[str, int] = field(default_factory=dict)  # exact canonical answer of valid samples -> n
    parse_errors: dict[str, int] = field(default_factory=dict)  # parse reason code -> n (part of `invalid`)
    valid: int = 0  # samples that parsed and passed the rules: the denominator of `agreement`
    invalid: dict[str, int] = field(default_factory=dict)  # "parse:<code>" | "rule:<code>" | ... -> n
    classes: dict[str, int] = field(default_factory=dict)  # normalized answer -> n, most frequent first


# Why a vote drops an item, in the order they are tested (each is true of the samples when reported).
VOTE_REASONS = {
    "no_samples": "the item has no samples",
    "no_valid": "no sample parsed and passed the rule checker",
    "all_different": "two or more valid samples, each in a different answer class",
    "tie": "two answer classes share the top count",
    "below_threshold": "the top class has a share of the valid samples below the threshold, or too few votes",
}


def _read_sample(sample: Any, tools: list[Tool] | None) -> tuple[list[ToolCall], str, str] | str:
    """One sample -> (calls, normalized key, exact key), or the invalid reason ("<stage>:<code>").

    Any exception is a reason, not a crash: one odd sample must not stop a round."""
    stage = "parse"
    try:
        if isinstance(sample, str):
            try:
                calls = parse_calls(sample)
            except CallParseError as e:
                return f"parse:{e.reason}"
        elif isinstance(sample, (list, tuple)):
            calls = [c if isinstance(c, ToolCall) else ToolCall.from_dict(c) for c in sample]
        else:
            return "parse:not_text"
        stage = "rule"
        if tools is not None:
            reasons = check_calls(calls, tools, flag_named_after_value=True)
            if reasons:
                return f"rule:{reasons[0].code}"
        stage = "normalize"
        return calls, normalize_calls(calls, tools), canonical_calls(calls)
    except CallParseError as e:  # a pre-parsed call dict that is not a call
        return f"{stage}:{e.reason}"
    except Exception as e:  # noqa: BLE001 -- a parser/checker bug becomes a counted reason
        return f"{stage}:exception:{type(e).__name__}"


def _usable_tools(tools: Sequence[Tool | dict] | None) -> list[Tool] | None:
    """Tools as `Tool`s; an unreadable one is left out (calls to it then fail as `unknown_function`)."""
    if tools is None:
        return None
    out = []
    for t in tools:
        try:
            out.append(as_tool(t))
        except Exception:  # noqa: BLE001 -- ToolFormatError, or worse: either way not a tool to call
            continue
    return out


def majority_vote(
    samples: Sequence[str | list[ToolCall]],
    threshold: float = 0.6,
    tools: Sequence[Tool | dict] | None = None,
    min_votes: int = 2,
) -> Vote:
    """Majority vote over the normalized form of each valid sample's call list.

    Samples are raw model texts (parsed here) or already-parsed call lists. With `tools` (the item's
    candidates), a sample must also pass `checks.check_calls`: a sample that calls a hallucinated tool,
    breaks a schema or names a parameter after its own value (`iodine="Iodine"`: a parallel request collapsed
    into one call, `flag_named_after_value`) is no opinion on the right answer, so it is counted in `invalid` and left out of the
    denominator instead of diluting the vote. `tools=None` skips the rule check (parse only); `tools=[]`
    means no tool is offered (any call is invalid, `[]` is valid).

    Valid samples are grouped by `normalize_calls` (so "Paris" / "paris", `5` / `5.0`, a default stated or
    left out, call order ... do not split the vote); the winning class must be unique, hold a share of the
    valid samples >= `threshold` and at least `min_votes` votes (so one valid sample out of five cannot win
    alone). The winner is the most frequent exact answer in that class (the first seen on a tie), so the
    training target is a form the model actually wrote. Reasons: see `VOTE_REASONS`, tested in that order."""
    total = len(samples)
    if total == 0:
        return Vote(None, 0.0, 0, 0, "no_samples")
    tool_list = _usable_tools(tools)
    invalid: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    members: dict[str, Counter[str]] = {}  # normalized key -> exact key -> n
    by_exact: dict[str, list[ToolCall]] = {}
    for s in samples:
        read = _read_sample(s, tool_list)
        if isinstance(read, str):
            invalid[read] += 1
            continue
        calls, norm, exact = read
        classes[norm] += 1
        counts[exact] += 1
        members.setdefault(norm, Counter())[exact] += 1
        by_exact.setdefault(exact, calls)
    valid = sum(classes.values())
    parse_errors = {k.removeprefix("parse:"): n for k, n in invalid.items() if k.startswith("parse:")}
    ranked = classes.most_common()
    top_key, top_n = ranked[0] if ranked else ("", 0)
    agreement = top_n / valid if valid else 0.0

    def vote(winner: list[ToolCall] | None, reason: str | None) -> Vote:
        return Vote(
            winner,
            agreement,
            top_n,
            total,
            reason,
            dict(counts.most_common()),
            parse_errors,
            valid,
            dict(invalid.most_common()),
            dict(ranked),
        )

    if valid == 0:
        return vote(None, "no_valid")
    if valid >= 2 and len(ranked) == valid:
        return vote(None, "all_different")
    if len(ranked) > 1 and ranked[1][1] == top_n:
        return vote(None, "tie")
    if agreement + 1e-9 < threshold or top_n < min_votes:
        return vote(None, "below_threshold")
    best_exact = members[top_key].most_common(1)[0][0]
    return vote(by_exact[best_exact], None)


def vote_items(
    items: Sequence[Item],
    threshold: float = 0.6,
    keep_no_call: bool = False,
    min_votes: int = 2,
    relax: bool = False,
) -> tuple[list[Item], list[Rejection], list[dict]]:
    """Run `majority_vote` on every sampled item against its own tools (`item["tools"]`, tool dicts).
    Returns `(kept items with calls = winner, rejections, vote records)`; vote records (one per item,
    kept or not) are what `votes.jsonl` and the audit read.

    An item whose winner is "call nothing" is dropped unless `keep_no_call`: its tools were generated for
    its query, so an abstention there is more likely a failure than a lesson. An item without a `tools`
    list is voted on parse alone (no rule check). `relax`: each item's tools are first relaxed to what
    its samples agree on (`evolve.relax.relax_tools`: a required parameter most calls leave out becomes
    optional, an integer given fractions a number); a kept item carries the relaxed tools and
    `meta.tool_relaxed`, and every vote record its `relaxed` repairs."""
    kept, rejected, records = [], [], []
    for it in items:
        tools = it.get("tools")
        repairs: list[dict] = []
        if relax and isinstance(tools, list):
            tools, repairs = relax_tools(tools, it.get("samples") or [])
        v = majority_vote(
            it.get("samples") or [], threshold, tools if isinstance(tools, list) else None, min_votes
        )
        winner = None if v.winner is None else [c.to_dict() for c in v.winner]
        records.append(
            {
                "id": it.get("id"),
                "agreement": round(v.agreement, 4),
                "votes": v.votes,
                "total": v.total,
                "valid": v.valid,
                "winner": winner,
                "reason": v.reason,
                "counts": v.counts,
                "classes": v.classes,
                "invalid": v.invalid,
                **({"relaxed": repairs} if repairs else {}),
            }
        )
        if v.winner is None:
            rejected.append(
                reject(
                    it,
                    "vote",
                    v.reason or "dropped",
                    f"top class {v.votes} of {v.valid} valid samples ({v.total} sampled)",
                    agreement=v.agreement,
                    invalid=v.invalid,
                )
            )
        elif not v.winner and not keep_no_call:
            rejected.append(
                reject(
                    it, "vote", "no_call_winner", "the majority answer calls nothing", agreement=v.agreement
                )
            )
        else:
            meta = {
                **it.get("meta", {}),
                "agreement": v.agreement,
                **({"tool_relaxed": repairs} if repairs else {}),
            }
            item = {k: val for k, val in it.items() if k != "samples"} | {"calls": winner, "meta": meta}
            kept.append(item | ({"tools": tools} if repairs else {}))
    return kept, rejected, records


# ----------------------------------------------------------------------------- rule filter


COVERAGE_MODES = ("off", "numbers")


def rule_filter(
    items: Sequence[Item], grounding: str = "off", coverage: str = "off"
) -> tuple[list[Item], list[Rejection]]:
    """Rule layer of ToolACE's verification on voted items: calls must name a candidate tool, carry its
    required parameters, no unknown ones, values of the right types/enums, no parameter named after its
    own value (`open_toolace.checks`, `flag_named_after_value`).
    `coverage="numbers"` also rejects calls that leave out a number the query states
    (`query_value_unused`: a generated tool without the parameter for "8 mol" gets a consistent vote on a
    call that computes something else). A failing item is rejected with every reason the checker gave
    (`reason` = the first code)."""
    if coverage not in COVERAGE_MODES:
        raise ValueError(f"coverage must be one of {COVERAGE_MODES}, got {coverage!r}")
    kept, rejected = [], []
    for it in items:
        try:
            tools = [Tool.from_dict(t) for t in it["tools"]]
            calls = [ToolCall.from_dict(c) for c in it["calls"] or []]
            query = example_query(it)
            reasons = check_calls(calls, tools, query=query, grounding=grounding, flag_named_after_value=True)
            missing = (
                unused_numbers(query, [c.arguments for c in calls]) if coverage != "off" and query else []
            )
        except (KeyError, TypeError, ValueError) as e:  # a malformed item is a rejection, not a crash
            rejected.append(reject(it, "rules", "format_error", f"{type(e).__name__}: {e}"[:300]))
            continue
        if calls and missing:
            reasons = [*reasons, Reason("query_value_unused", f"no argument carries {', '.join(missing)}")]
        if reasons:
            rejected.append(
                reject(
                    it,
                    "rules",
                    reasons[0].code,
                    reasons[0].message,
                    reasons=[{"code": r.code, "message": r.message, "call": r.call} for r in reasons],
                )
            )
        else:
            kept.append(it)
    return kept, rejected


# ----------------------------------------------------------------------------- audit


def audit(
    queries: Sequence[Item],
    tool_items: Sequence[Item],
    vote_records: Sequence[dict],
    kept: Sequence[Item],
    rejected: Sequence[Rejection],
    triplets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What one round did, as JSON: queries in, tools generated, vote-agreement histogram, kept vs
    rejected (by step and reason), distinct tool names, calls per kept sample, and items with tools and
    kept items per tool source (`generate`, `retrieve`, `both`: `meta.tool_source`, `generate` when
    absent), so a round that mixes sources shows what each yields."""
    n_tools = [len(it.get("tools") or []) for it in tool_items]
    hist: Counter[str] = Counter()
    for v in vote_records:
        hist[f"{v['votes']}/{v['total']}"] += 1
    by_step: dict[str, Counter[str]] = {}
    for r in rejected:
        by_step.setdefault(r.get("step", "?"), Counter())[r.get("reason", "?")] += 1
    calls_per = Counter(len(it.get("calls") or []) for it in kept)
    names = {t["name"] for it in tool_items for t in it.get("tools") or []}
    called = {c["name"] for it in kept for c in it.get("calls") or []}
    return {
        "queries": len(queries),
        "with_tools": len(tool_items),
        "tools_generated": sum(n_tools),
        "tools_per_query": round(sum(n_tools) / len(n_tools), 3) if n_tools else 0.0,
        "distinct_tool_names": len(names),
        "distinct_called_tools": len(called),
        "vote_agreement_hist": dict(sorted(hist.items(), key=lambda kv: _frac(kv[0]))),
        "mean_agreement": round(sum(v["agreement"] for v in vote_records) / len(vote_records), 4)
        if vote_records
        else 0.0,
        "kept": len(kept),
        "rejected": len(rejected),
        "rejected_by_step": {s: dict(c.most_common()) for s, c in by_step.items()},
        "calls_per_sample": {str(k): v for k, v in sorted(calls_per.items())},
        "training_samples": dict(triplets or {}),
        "tool_sources": _by_source(tool_items),
        "kept_by_tool_source": _by_source(kept),
    }


def _by_source(items: Sequence[Item]) -> dict[str, int]:
    """Items per `meta.tool_source` (query-aware generation, the only source before there were others,
    when the key is absent)."""
    counts = Counter(str((it.get("meta") or {}).get("tool_source") or "generate") for it in items)
    return dict(sorted(counts.items()))


def _frac(s: str) -> tuple[int, int]:
    a, b = s.split("/")
    return int(b), int(a)
