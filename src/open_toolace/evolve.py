"""One self-evolution round (ToolACE-DEV stage 3) as small pure steps.

    queries --generate_tools--> items with candidate tools
            --sample_invocations--> k raw completions per item
            --vote_items (majority_vote per item)--> items with a winning call list
            --rule_filter--> items whose calls pass the rule checker
            --build_triplets--> tool-generation + invocation training samples (+ seed replay)
            --audit--> what happened, as JSON

Every step returns `(kept, rejected)` or plain data; a rejected item is a dict
`{"id", "step", "reason", "message", ...}` so the audit can count losses by step and reason. Model output
is data: tool lists are parsed with `json`, calls with `open_toolace.calls` (ast/json), never eval. A
malformed output is a recorded rejection, never a crash of the round. `run.py` strings these together
over a run directory; the functions themselves do no I/O.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from open_toolace.calls import CallParseError, ToolCall, canonical_calls, parse_calls
from open_toolace.checks import check_calls, check_tools
from open_toolace.data.records import example_query
from open_toolace.prompts import render_invocation, render_tool_generation
from open_toolace.tools import ToolFormatError, parse_tool

Item = dict[str, Any]
Rejection = dict[str, Any]


def reject(item: Item, step: str, reason: str, message: str = "", **extra: Any) -> Rejection:
    """A rejection record: which item, at which step, why (a short code) and a human message."""
    return {"id": item.get("id"), "step": step, "reason": reason, "message": message, **extra}


# ----------------------------------------------------------------------------- tool generation

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def _json_candidates(text: str) -> list[str]:
    """Substrings of a model output that may hold the JSON tool list: fenced blocks, then the outermost
    [...] or {...} span, then the whole text. Small models wrap JSON in prose; we look, never eval."""
    out = [m.group(1) for m in _FENCE.finditer(text)]
    for open_, close in (("[", "]"), ("{", "}")):
        i, j = text.find(open_), text.rfind(close)
        if 0 <= i < j:
            out.append(text[i : j + 1])
    out.append(text)
    return out


def parse_tool_list(text: str) -> tuple[list[dict], list[Rejection]]:
    """Parse a model's JSON tool list. Returns `(tools as Tool dicts, per-tool problems)`.

    Raises `ValueError` with a reason code in `args[0]` (`bad_json`, `not_a_list`, `no_valid_tool`) when
    nothing usable is there; single tools that do not convert or validate are returned as problems."""
    data: Any = None
    for cand in _json_candidates(text):
        try:
            data = json.loads(cand)
            break
        except (json.JSONDecodeError, RecursionError):
            continue
    else:
        raise ValueError("bad_json", "no JSON tool list in the output")
    if isinstance(data, dict):  # {"tools": [...]} or a single tool
        data = data.get("tools", [data]) if isinstance(data.get("tools"), list) else [data]
    if not isinstance(data, list):
        raise ValueError("not_a_list", f"expected a JSON list of tools, got {type(data).__name__}")
    tools, problems, names = [], [], set()
    for i, obj in enumerate(data):
        try:
            tool = parse_tool(obj)
        except (ToolFormatError, TypeError, ValueError, AttributeError) as e:
            problems.append({"index": i, "reason": "tool_format", "message": str(e)[:300]})
            continue
        if tool.name in names:
            problems.append({"index": i, "reason": "duplicate_name", "message": f"{tool.name!r} twice"})
            continue
        reasons = check_tools([tool])
        if reasons:
            problems += [{"index": i, "reason": r.code, "message": r.message} for r in reasons]
            continue
        names.add(tool.name)
        tools.append(tool.to_dict())
    if not tools:
        raise ValueError("no_valid_tool", f"{len(data)} tool(s) in the output, none valid")
    return tools, problems


def generate_tools(
    generator: Any,
    queries: Sequence[Item],
    m: int,
    temperature: float = 1.0,
    top_k: int | None = 50,
    max_new_tokens: int = 384,
    seed: int = 0,
    progress: bool = True,
) -> tuple[list[Item], list[Rejection]]:
    """Query-aware tool generation: ask the model for `m` candidate tools per unlabeled query.

    Each query is an internal example (`calls: null`); a kept item is a copy with `tools` filled and the
    raw output in `meta.tool_output`. An output with no parseable, valid tool is a rejection
    (`step="tools"`); single broken tools inside an otherwise good list are dropped and listed in
    `meta.tool_problems`."""
    queries = list(queries)
    requests = [render_tool_generation(example_query(q), m) for q in queries]
    outputs = generator.generate(
        requests,
        n=1,
        temperature=temperature,
        top_k=top_k,
        max_new_tokens=max_new_tokens,
        seed=seed,
        progress=progress,
    )
    kept, rejected = [], []
    for q, outs in zip(queries, outputs, strict=True):
        text = outs[0] if outs else ""
        try:
            tools, problems = parse_tool_list(text)
        except ValueError as e:
            code, msg = (e.args + ("",))[:2] if len(e.args) >= 1 else ("bad_json", "")
            rejected.append(reject(q, "tools", str(code), str(msg), output=text[:2000]))
            continue
        meta = {**q.get("meta", {}), "tool_output": text, "tool_problems": problems}
        kept.append({**q, "tools": tools, "calls": None, "meta": meta})
    return kept, rejected


# ----------------------------------------------------------------------------- invocation sampling


def sample_invocations(
    generator: Any,
    items: Sequence[Item],
    k: int = 5,
    temperature: float = 0.7,
    top_k: int | None = 50,
    top_p: float | None = None,
    max_new_tokens: int = 128,
    seed: int = 0,
    progress: bool = True,
) -> list[Item]:
    """k invocation samples per item (query + its candidate tools): `{..item, "samples": [k texts]}`."""
    items = list(items)
    requests = [render_invocation(it["tools"], it["messages"]) for it in items]
    outputs = generator.generate(
        requests,
        n=k,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        seed=seed,
        progress=progress,
    )
    return [{**it, "samples": list(outs)} for it, outs in zip(items, outputs, strict=True)]


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
    from open_toolace.tools import Tool  # noqa: PLC0415 - keep the module's import list short

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
    (query + tools [+ distractors] -> calls) invocation samples, via `open_toolace.tasks`, plus replay.

    `mix` is a `tasks.TaskMixConfig` (distractors, abstention share, max tools; its seed is replaced by
    `seed`). `replay` is a list of already-built training samples (the bootstrap mixture);
    `replay_share` is the share of the *final* set drawn from it (0.3 -> 30 % replay), which fights
    forgetting of the no-call and multi-tool behaviour the round's own data lacks.
    Returns `(samples shuffled under seed, report)`; the report counts samples per task and every item
    a task builder skipped, by reason."""
    import dataclasses

    from open_toolace import tasks as T  # noqa: PLC0415 - heavy-ish, and only this step needs it

    mix = dataclasses.replace(mix or T.TaskMixConfig(), seed=seed)
    items = [T.with_identifier_names(it) for it in items] if mix.identifier_names else list(items)
    skipped: Counter[str] = Counter()
    new: list[dict] = []
    if items and "tool_generation" in tasks:
        new += T.build_tool_generation(items, max_tools=mix.max_tools, skipped=skipped)
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
