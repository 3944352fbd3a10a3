"""Statistics of a set of examples, including rule-check failures by reason (`toolace data stats FILE`).

    from open_toolace.data.stats import stats, render_stats
    s = stats(load_examples("train.jsonl"))     # a JSON-safe dict
    print(render_stats(s))                      # markdown

Shares are over all samples except `parallel_share` and `calls_per_sample`, which are over samples with
at least one call. Tool definitions are checked once per distinct definition (the same tool offered in
many samples is one tool); calls are checked per sample against that sample's tools.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from open_toolace.checks import Reason, check_calls, check_tools
from open_toolace.data.records import example_user_text


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "min": 0, "max": 0}
    return {"mean": round(sum(values) / len(values), 3), "min": min(values), "max": max(values)}


def _share(n: int, d: int) -> float:
    return round(n / d, 4) if d else 0.0


def stats(examples: Iterable[dict], *, check: bool = True, grounding: str = "off") -> dict[str, Any]:
    """Counts and shares of a list of examples; with `check`, rule-check failures by reason code."""
    exs = list(examples)
    n = len(exs)
    labeled = [e for e in exs if e.get("calls") is not None]
    with_calls = [e for e in labeled if e["calls"]]
    out: dict[str, Any] = {
        "samples": n,
        "by_source": dict(Counter(e.get("meta", {}).get("source", "?") for e in exs).most_common()),
        "by_kind": dict(Counter(e.get("meta", {}).get("kind", "?") for e in exs).most_common()),
        "tools_per_sample": _summary([len(e.get("tools") or []) for e in exs]),
        "calls_per_sample": _summary([len(e["calls"]) for e in with_calls]),
        "with_calls": len(with_calls),
        "parallel": sum(len(e["calls"]) > 1 for e in with_calls),
        "parallel_share": _share(sum(len(e["calls"]) > 1 for e in with_calls), len(with_calls)),
        "multiple_choice": sum(len(e.get("tools") or []) > 1 for e in exs),
        "multiple_choice_share": _share(sum(len(e.get("tools") or []) > 1 for e in exs), n),
        "no_call": len(labeled) - len(with_calls),
        "no_call_share": _share(len(labeled) - len(with_calls), n),
        "unlabeled": n - len(labeled),
        "unlabeled_share": _share(n - len(labeled), n),
    }
    if check:
        out["rule_checks"] = rule_check_counts(exs, grounding=grounding)
    return out


def rule_check_counts(examples: list[dict], *, grounding: str = "off") -> dict[str, Any]:
    """Run `check_tools` on each distinct tool definition and `check_calls` on each labeled example."""
    tool_reasons: Counter = Counter()
    distinct: dict[str, dict] = {}
    for ex in examples:
        for t in ex.get("tools") or []:
            distinct.setdefault(json.dumps(t, sort_keys=True, ensure_ascii=False), t)
    bad_tools = 0
    for t in distinct.values():
        reasons = check_tools([t])
        bad_tools += bool(reasons)
        tool_reasons.update(r.code for r in reasons)
    dup_samples = 0
    call_reasons: Counter = Counter()
    failing = 0
    examples_reasons: dict[str, list[str]] = {}
    for ex in examples:
        tools = ex.get("tools") or []
        if len({t.get("name") for t in tools}) < len(tools):
            dup_samples += 1
        if not ex.get("calls"):
            continue
        try:
            reasons = check_calls(ex["calls"], tools, query=example_user_text(ex), grounding=grounding)
        except (ValueError, TypeError) as e:  # a record whose tools do not even parse
            reasons = [Reason("invalid_record", str(e))]
        if reasons:
            failing += 1
            call_reasons.update(r.code for r in reasons)
            if len(examples_reasons) < 5:
                examples_reasons[ex.get("id", "?")] = [r.message for r in reasons][:3]
    return {
        "distinct_tools": len(distinct),
        "tools_failing": bad_tools,
        "tool_reasons": dict(tool_reasons.most_common()),
        "samples_with_duplicate_tool_names": dup_samples,
        "samples_checked": sum(bool(e.get("calls")) for e in examples),
        "samples_failing": failing,
        "call_reasons": dict(call_reasons.most_common()),
        "first_failures": examples_reasons,
        "grounding": grounding,
    }


def render_stats(s: dict[str, Any], title: str = "data stats") -> str:
    """The stats dict as a short markdown report."""
    tps, cps = s["tools_per_sample"], s["calls_per_sample"]
    lines = [
        f"## {title}",
        "",
        "| measure | value |",
        "|---|---|",
        f"| samples | {s['samples']} |",
        f"| tools per sample (mean / min / max) | {tps['mean']} / {tps['min']} / {tps['max']} |",
        f"| calls per sample with calls (mean / min / max) | {cps['mean']} / {cps['min']} / {cps['max']} |",
        f"| parallel (>1 call) | {s['parallel']} ({s['parallel_share']:.1%} of samples with calls) |",
        f"| multiple choice (>1 tool offered) | {s['multiple_choice']} ({s['multiple_choice_share']:.1%}) |",
        f"| no call | {s['no_call']} ({s['no_call_share']:.1%}) |",
        f"| unlabeled | {s['unlabeled']} ({s['unlabeled_share']:.1%}) |",
        f"| by source | {_inline(s['by_source'])} |",
        f"| by kind | {_inline(s['by_kind'])} |",
    ]
    rc = s.get("rule_checks")
    if rc:
        lines += [
            f"| calls failing rule checks | {rc['samples_failing']} of {rc['samples_checked']} samples |",
            f"| call failures by reason | {_inline(rc['call_reasons']) or 'none'} |",
            f"| tools failing checks | {rc['tools_failing']} of {rc['distinct_tools']} distinct tools |",
            f"| tool failures by reason | {_inline(rc['tool_reasons']) or 'none'} |",
        ]
        if rc["first_failures"]:
            lines += ["", "First failing samples:", ""]
            lines += [f"- `{i}`: {'; '.join(msgs)}" for i, msgs in rc["first_failures"].items()]
    return "\n".join(lines) + "\n"


def _inline(d: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in d.items())
