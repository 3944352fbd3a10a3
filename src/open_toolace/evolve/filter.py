"""Filtering and data steps of a round: majority vote, rule filter, training triplets, audit."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from open_toolace.checks import check_calls
from open_toolace.data.records import example_query
from open_toolace.evolve.common import Item, Rejection, reject
from open_toolace.formats import CallParseError, ToolCall, canonical_calls, parse_calls
from open_toolace.formats.tools import Tool
from open_toolace.training import tasks as T
from open_toolace.training.mixture import TaskMixConfig

# ----------------------------------------------------------------------------- vote


@dataclass
class Vote:
    """Outcome of a majority vote over k samples. `winner is None` means dropped, and `reason` says why."""

    winner: list[ToolCall] | None
    agreement: float  # share of all k samples that gave the winning (or the top) answer
    votes: int  # samples for the top answer
    total: int  # k (unparseable samples count: they are disagreement)
    reason: str | None = None  # no_samples | tie | below_threshold
    counts: dict[str, int] = field(default_factory=dict)  # canonical answer (or "<unparseable:code>") -> n
    parse_errors: dict[str, int] = field(default_factory=dict)


def majority_vote(samples: Sequence[str | list[ToolCall]], threshold: float = 0.6) -> Vote:
    """Majority vote over the canonical form of each sample's call list.

    Samples are raw model texts (parsed here) or already-parsed call lists. Unparseable samples count in
    the denominator (they disagree with everything). The top answer wins if it is unique and its share
    of all samples is >= `threshold`; a tie for the top, or a share below the threshold, drops the item."""
    total = len(samples)
    if total == 0:
        return Vote(None, 0.0, 0, 0, "no_samples")
    counts: Counter[str] = Counter()
    parse_errors: Counter[str] = Counter()
    by_key: dict[str, list[ToolCall]] = {}
    for s in samples:
        if isinstance(s, str):
            try:
                calls = parse_calls(s)
            except CallParseError as e:
                parse_errors[e.reason] += 1
                continue
            except (RecursionError, ValueError, TypeError) as e:  # a parser bug must not kill a round
                parse_errors[f"parser_error:{type(e).__name__}"] += 1
                continue
        else:
            calls = list(s)
        key = canonical_calls(calls)
        counts[key] += 1
        by_key.setdefault(key, calls)
    all_counts = dict(counts) | {f"<unparseable:{c}>": n for c, n in parse_errors.items()}
    if not counts:
        return Vote(None, 0.0, 0, total, "no_parseable", all_counts, dict(parse_errors))
    ranked = counts.most_common()
    top_key, top_n = ranked[0]
    agreement = top_n / total
    if len(ranked) > 1 and ranked[1][1] == top_n:
        return Vote(None, agreement, top_n, total, "tie", all_counts, dict(parse_errors))
    if agreement + 1e-9 < threshold:
        return Vote(None, agreement, top_n, total, "below_threshold", all_counts, dict(parse_errors))
    return Vote(by_key[top_key], agreement, top_n, total, None, all_counts, dict(parse_errors))


def vote_items(
    items: Sequence[Item], threshold: float = 0.6, keep_no_call: bool = False
) -> tuple[list[Item], list[Rejection], list[dict]]:
    """Run `majority_vote` on every sampled item. Returns `(kept items with calls = winner, rejections,
    vote records)`; vote records (one per item, kept or not) are what `votes.jsonl` and the audit read.

    An item whose winner is "call nothing" is dropped unless `keep_no_call`: its tools were generated for
    its query, so an abstention there is more likely a failure than a lesson."""
    kept, rejected, records = [], [], []
    for it in items:
        v = majority_vote(it.get("samples", []), threshold)
        winner = None if v.winner is None else [c.to_dict() for c in v.winner]
        records.append(
            {
                "id": it.get("id"),
                "agreement": round(v.agreement, 4),
                "votes": v.votes,
                "total": v.total,
                "winner": winner,
                "reason": v.reason,
                "counts": v.counts,
            }
        )
        if v.winner is None:
            rejected.append(
                reject(
                    it,
                    "vote",
                    v.reason or "dropped",
                    f"top answer {v.votes}/{v.total}",
                    agreement=v.agreement,
                )
            )
        elif not v.winner and not keep_no_call:
            rejected.append(
                reject(
                    it, "vote", "no_call_winner", "the majority answer calls nothing", agreement=v.agreement
                )
            )
        else:
            meta = {**it.get("meta", {}), "agreement": v.agreement}
            kept.append({k: val for k, val in it.items() if k != "samples"} | {"calls": winner, "meta": meta})
    return kept, rejected, records


# ----------------------------------------------------------------------------- rule filter


def rule_filter(items: Sequence[Item], grounding: str = "off") -> tuple[list[Item], list[Rejection]]:
    """Rule layer of ToolACE's verification on voted items: calls must name a candidate tool, carry its
    required parameters, no unknown ones, values of the right types/enums (`open_toolace.checks`).
    A failing item is rejected with every reason the checker gave (`reason` = the first code)."""
    kept, rejected = [], []
    for it in items:
        try:
            tools = [Tool.from_dict(t) for t in it["tools"]]
            calls = [ToolCall.from_dict(c) for c in it["calls"] or []]
            reasons = check_calls(calls, tools, query=example_query(it), grounding=grounding)
        except (KeyError, TypeError, ValueError) as e:  # a malformed item is a rejection, not a crash
            rejected.append(reject(it, "rules", "format_error", f"{type(e).__name__}: {e}"[:300]))
            continue
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


# ----------------------------------------------------------------------------- triplets


def build_triplets(
    items: Sequence[Item],
    replay: Sequence[dict] = (),
    replay_share: float = 0.3,
    mix: Any = None,
    distractor_pool: Sequence[dict] | None = None,
    tasks: Sequence[str] = ("tool_generation", "invocation"),
    seed: int = 0,
) -> tuple[list[dict], dict[str, Any]]:
    """Training samples from the round's verified items: (query -> tools) tool-generation samples and
    (query + tools [+ distractors] -> calls) invocation samples, via `open_toolace.training.tasks`, plus replay.

    `mix` is a `mixture.TaskMixConfig` (distractors, abstention share, max tools; its seed is replaced by
    `seed`). `replay` is a list of already-built training samples (the bootstrap mixture);
    `replay_share` is the share of the *final* set drawn from it (0.3 -> 30 % replay), which fights
    forgetting of the no-call and multi-tool behaviour the round's own data lacks.
    Returns `(samples shuffled under seed, report)`; the report counts samples per task and every item
    a task builder skipped, by reason."""
    mix = dataclasses.replace(mix or TaskMixConfig(), seed=seed)
    items = [T.with_identifier_names(it) for it in items] if mix.identifier_names else list(items)
    skipped: Counter[str] = Counter()
    new: list[dict] = []
    if items and "tool_generation" in tasks:
        new += T.build_tool_generation(
            items,
            max_tools=mix.max_tools,
            extra=mix.tool_generation_extra,
            optional=mix.tool_generation_optional,
            skipped=skipped,
            prompts=mix.prompt_set,
        )
    if items and "invocation" in tasks:
        pool = T.collect_tools(items, distractor_pool or ())
        new += T.build_invocation(items, pool, mix, skipped=skipped)
    if mix.dedupe:
        new = T.dedupe(new)
    rng = random.Random(f"replay:{seed}")
    n_replay = 0
    if replay and new and 0 < replay_share < 1:
        n_replay = min(len(replay), round(len(new) * replay_share / (1 - replay_share)))
    old = [dict(s, id=f"replay:{s.get('id')}") for s in rng.sample(list(replay), n_replay)]
    samples = new + old
    rng.shuffle(samples)
    counts = dict(sorted(Counter(s.get("task", "?") for s in new).items()))
    counts["replay"] = len(old)
    return samples, {"tasks": counts, "total": len(samples), "skipped": dict(sorted(skipped.items()))}


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
    rejected (by step and reason), distinct tool names, calls per kept sample."""
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
    }


def _frac(s: str) -> tuple[int, int]:
    a, b = s.split("/")
    return int(b), int(a)
