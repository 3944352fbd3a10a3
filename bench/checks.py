"""Benchmark: rule-checker speed on BFCL's own function docs and ground-truth calls (bfcl-eval data, no model).

Side by side in one run, so the speed-ups are ratios on one machine at one time:
- tool validation: `validate_tool` (Draft 2020-12 meta-schema per property skeleton, cached) against a plain
  `Draft202012Validator(META_SCHEMA).iter_errors(parameters)` per tool — and whether they agree on which
  tools have meta-schema errors;
- call checking: `check_calls` with compiled, cached value validators against building a validator per value;
- grounding: lenient / strict (compare with the warm `off` row).

    .venv/bin/python bench/checks.py            # all single-turn BFCL categories (~11k docs, ~2.6k items)
    .venv/bin/python bench/checks.py --repeat 1

Prints a table and writes bench/results/checks.json.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import platform
import sys
import time
from pathlib import Path

from open_toolace.evaluate.bfcl import GROUPS
from open_toolace.hardware import machine_info

CATEGORIES = GROUPS["non_live_ast"] + GROUPS["live_ast"]  # every category with ground-truth calls


def _first_option(value):
    """BFCL lists acceptable values per argument (also inside nested dicts); "" means "may be omitted"."""
    if isinstance(value, dict):
        return {
            k: (_first_option(v[0]) if isinstance(v, list) else v)
            for k, v in value.items()
            if not isinstance(v, list) or (v and v[0] != "")
        }
    if isinstance(value, list):
        return [_first_option(v) for v in value]
    return value


def load(categories: list[str]):
    base = importlib.resources.files("bfcl_eval") / "data"
    docs, items = [], []
    for cat in categories:
        questions = [json.loads(x) for x in (base / f"BFCL_v4_{cat}.json").read_text().splitlines()]
        answers = {
            a["id"]: a["ground_truth"]
            for a in map(
                json.loads, (base / "possible_answer" / f"BFCL_v4_{cat}.json").read_text().splitlines()
            )
        }
        for q in questions:
            docs.extend(q["function"])
            calls = [
                {"name": n, "arguments": _first_option(o)} for e in answers[q["id"]] for n, o in e.items()
            ]
            query = " ".join(m["content"] for turn in q["question"] for m in turn if m["role"] == "user")
            items.append((q["function"], calls, query))
    return docs, items


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--categories", default=",".join(CATEGORIES))
    ap.add_argument("--repeat", type=int, default=3, help="best of N timings")
    ap.add_argument("--json", default="bench/results/checks.json")
    args = ap.parse_args(argv)

    from jsonschema import Draft202012Validator

    import open_toolace.checks as checks
    from open_toolace.checks import validate_tool
    from open_toolace.formats.tools import parse_tool

    docs, items = load(args.categories.split(","))
    tools = [parse_tool(d) for d in docs]
    item_tools = [([parse_tool(d) for d in fns], calls, q) for fns, calls, q in items]
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)

    def ours():
        checks._meta_errors_cached.cache_clear()  # cold caches each time: no credit for a repeated run
        checks._tool_reasons_cached.cache_clear()
        return [any(r.code == "invalid_schema" for r in validate_tool(t)) for t in tools]

    def plain():
        return [any(True for _ in meta.iter_errors(t.parameters)) for t in tools]

    agree = ours() == plain()
    t_ours, t_plain = timed(ours, args.repeat), timed(plain, args.repeat)

    def run_calls(grounding: str = "off"):
        for fns, calls, q in item_tools:
            checks.check_calls(calls, fns, query=q, grounding=grounding)

    def cold_cache():
        checks._validator.cache_clear()
        run_calls()

    cold = timed(cold_cache, args.repeat)
    cached = timed(run_calls, args.repeat)  # warm: what a long run over thousands of samples sees
    original = checks._validator
    checks._validator = lambda key: checks._ValueValidator(json.loads(key))  # a validator per value
    try:
        uncached = timed(run_calls, args.repeat)
    finally:
        checks._validator = original
    grounding = {g: timed(lambda g=g: run_calls(g), args.repeat) for g in ("lenient", "strict")}

    n_docs, n_items = len(tools), len(item_tools)
    rows = [
        ("validate_tool (cached skeletons)", n_docs / t_ours, "tools/s"),
        ("plain Draft 2020-12 meta check", n_docs / t_plain, "tools/s"),
        ("check_calls, cached validators (cold)", n_items / cold, "items/s"),
        ("check_calls, cached validators (warm)", n_items / cached, "items/s"),
        ("check_calls, validator per value", n_items / uncached, "items/s"),
    ] + [(f"check_calls, grounding={g}", n_items / t, "items/s") for g, t in grounding.items()]
    print(f"{n_docs} function docs, {n_items} items ({args.categories}); best of {args.repeat}\n")
    print(f"| {'what':40s} | {'rate':>10s} | unit |\n|{'-' * 42}|{'-' * 12}|------|")
    for what, rate, unit in rows:
        print(f"| {what:40s} | {rate:10.0f} | {unit} |")
    speedups = {"tool_validation": t_plain / t_ours, "value_validator_cache": uncached / cached}
    print(
        f"\nspeed-ups: tool validation x{speedups['tool_validation']:.1f}, "
        f"validator cache x{speedups['value_validator_cache']:.1f}; meta-schema verdicts agree: {agree}"
    )
    out = {
        "docs": n_docs,
        "items": n_items,
        "categories": args.categories.split(","),
        "rates": {what: round(rate, 1) for what, rate, _ in rows},
        "speedups": {k: round(v, 2) for k, v in speedups.items()},
        "meta_verdicts_agree": agree,
        "python": sys.version.split()[0],
        "machine": {**machine_info(), "platform": platform.platform()},
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
