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


def argument_kinds(value: Any) -> list[str]:
    """JSON kinds in one argument value, nested ones included (`[1.5, 2]` -> array, number, integer)."""
    if isinstance(value, bool):
        return ["boolean"]
    if isinstance(value, int):
        return ["integer"]
    if isinstance(value, float):
        return ["number"]
    if isinstance(value, str):
        return ["string"]
    if isinstance(value, list):
        return ["array"] + [k for v in value for k in argument_kinds(v)]
    if isinstance(value, dict):
        return ["object"] + [k for v in value.values() for k in argument_kinds(v)]
    return ["null"]


def type_coverage(tools: Iterable[dict]) -> dict[str, int]:
    """How many parameters of each JSON-Schema type / feature the tools use (nested ones included):
    `number`, `object`, `array<number>`, `enum(string)`, `default`, `pattern`, ..."""
    counts: Counter = Counter()

    def visit(sch: dict) -> None:
        t = sch.get("type", "any")
        t = "/".join(map(str, t)) if isinstance(t, list) else str(t)
        counts[f"enum({t})" if "enum" in sch else t] += 1
        for feat in ("default", "minimum", "maximum", "pattern", "format"):
            counts[feat] += feat in sch
        items = sch.get("items")
        if t == "array" and isinstance(items, dict):
            counts[f"array<{items.get('type', 'any')}>"] += 1
        for sub in (sch.get("properties") or {}).values():
            if isinstance(sub, dict):
                visit(sub)

    for tool in tools:
        for sch in ((tool.get("parameters") or {}).get("properties") or {}).values():
            if isinstance(sch, dict):
                visit(sch)
    return {k: v for k, v in sorted(counts.items()) if v}


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
        "domains": len({e["meta"]["domain"] for e in exs if (e.get("meta") or {}).get("domain")}),
        # the kind of each no-call example, where its source says (synthesized data: far / near_miss /
        # missing_value); `?` when it does not
        "abstention_kinds": dict(
            Counter(
                (e.get("meta") or {}).get("abstention", "?") for e in labeled if not e["calls"]
            ).most_common()
        ),
        "argument_types": dict(
            Counter(
                k
                for e in with_calls
                for c in e["calls"]
                for v in (c.get("arguments") or {}).values()
                for k in argument_kinds(v)
            ).most_common()
        ),  # fmt: skip
        "schema_types": type_coverage(_distinct_tools(exs)),
    }
    if check:
        out["rule_checks"] = rule_check_counts(exs, grounding=grounding)
    return out


def _distinct_tools(examples: list[dict]) -> list[dict]:
    seen: dict[str, dict] = {}
    for e in examples:
        for t in e.get("tools") or []:
            if isinstance(t, dict):
                seen.setdefault(json.dumps(t, sort_keys=True, ensure_ascii=False, default=str), t)
    return list(seen.values())


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
        f"| domains | {s['domains']} |",
        f"| no-call kinds | {_inline(s['abstention_kinds']) or '-'} |",
        f"| argument types in calls | {_inline(s['argument_types']) or '-'} |",
        f"| parameter types of the distinct tools | {_inline(s['schema_types']) or '-'} |",
    ]
    if s.get("supervised_tokens"):
        lines.append(
            f"| supervised tokens by task ({s['token_count']}) | {_inline(s['supervised_tokens'])} |"
        )
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
