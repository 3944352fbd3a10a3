"""Diversity statistics of a synthesized set, as a JSON-able dict and a markdown table.

s = diversity_stats(examples, pool_tools, rejects)
print(format_stats(s))
"""

from __future__ import annotations

from collections import Counter

from open_toolace.data.stats import argument_kinds, type_coverage


def diversity_stats(
    examples: list[dict], pool_tools: list[dict] | None = None, rejects: list[dict] | None = None
) -> dict:
    """Counts that say how varied the set is: types, templates, phrasings, domains, APIs, argument types."""
    queries = [
        next((m["content"] for m in reversed(ex["messages"]) if m["role"] == "user"), "") for ex in examples
    ]
    full = ["\n".join(m["content"] for m in ex["messages"]) for ex in examples]
    calls = [ex["calls"] or [] for ex in examples]
    arg_types: Counter = Counter()
    for cs in calls:
        for c in cs:
            for v in c["arguments"].values():
                arg_types.update(argument_kinds(v))
    meta = [ex.get("meta") or {} for ex in examples]
    words = [len(q.split()) for q in queries]
    out = {
        "samples": len(examples),
        "unique_samples": len(set(full)),
        "unique_queries": len(set(queries)),
        "types": dict(Counter(m.get("type", "?") for m in meta).most_common()),
        "calls_per_sample": dict(sorted(Counter(len(c) for c in calls).items())),
        "distinct_templates": len({m.get("template") for m in meta if m.get("template")}),
        "domains": len({m.get("domain") for m in meta if m.get("domain")}),
        "apis_called": len({c["name"] for cs in calls for c in cs}),
        "apis_offered": len({t["name"] for ex in examples for t in ex["tools"]}),
        "tools_per_sample_mean": round(sum(len(ex["tools"]) for ex in examples) / max(1, len(examples)), 2),
        "query_words_mean": round(sum(words) / max(1, len(words)), 1),
        "argument_types": dict(arg_types.most_common()),
        "value_phrasings": dict(Counter(f for m in meta for f in m.get("forms", [])).most_common()),
        "evolution_ops_in_samples": dict(Counter(o for m in meta for o in m.get("ops", [])).most_common()),
        "abstention_kinds": dict(Counter(m["abstention"] for m in meta if m.get("abstention")).most_common()),
    }
    if pool_tools is not None:
        out["pool_apis"] = len(pool_tools)
        out["schema_coverage"] = type_coverage(pool_tools)
    if rejects is not None:
        out["rejects"] = len(rejects)
        out["reject_reasons"] = dict(Counter(r.get("reason", "?") for r in rejects).most_common())
    return out


def format_stats(stats: dict) -> str:
    """A markdown table: scalars first, then each count dict on one line."""
    lines = ["| statistic | value |", "|---|---|"]
    for k, v in stats.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}: {b}" for a, b in v.items()) or "-"
        lines.append(f"| {k} | {v} |")
    return "\n".join(lines)
