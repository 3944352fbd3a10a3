"""Benchmark: what a self-evolution round keeps, and how often what it keeps is right, across vote settings.

A round's yield (queries that end as kept triplets) and the quality of what it keeps decide whether rounds
can teach anything. This runs one round's model stages from one adapter, without training: the tool stage
(`evolve.m` tools per query, as `bench/tool_writing.py`), then `k` invocation samples per query at each
`--temperatures` value (one sampling pass per temperature, reused by every threshold), then the vote at each
`--thresholds` value and the rule filter. The queries are the run config's unlabeled pool (offline synthesis,
domains held out of the seed set); their synthesized labels, which a round never sees, score the kept answers.

The label check compares argument *values*, not names (the model names its own tools and parameters): an
answer matches when it has as many calls as the label and every label value appears among its values
(strings compared case- and space-insensitively, numbers by value). `[]` matches a no-call label. A greedy
sample per query (T=0) is scored the same way, so `kept_match` can be read against what one answer gets.

    .venv/bin/python bench/round_yield.py runs/ARM/bootstrap/adapter --config configs/cpu.yaml --queries 200 \
        --temperatures 0.4,0.7 --thresholds 0.4,0.6,0.8

Writes bench/results/round_yield.json (per temperature and threshold: kept, yield, drops by reason, kept that
match their label) and every stage's items under --out.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

_BENCH = str(Path(__file__).resolve().parent)
if _BENCH not in sys.path:  # a test that loads this file by path has no bench/ on sys.path
    sys.path.append(_BENCH)

from _results import machine, stamp  # noqa: E402
from tool_writing import tool_stage  # noqa: E402


def _value_key(v: Any) -> list[str]:
    """The comparable atoms of an argument value: numbers by value, strings folded; lists/dicts flattened."""
    if isinstance(v, bool):
        return [str(v).lower()]
    if isinstance(v, (int, float)):
        return [repr(float(v))] if math.isfinite(v) else [str(v)]
    if isinstance(v, str):
        s = " ".join(v.lower().split()).strip(" .,;:!?'\"")
        try:
            return [repr(float(s))]
        except ValueError:
            return [s]
    if isinstance(v, dict):
        return [a for x in v.values() for a in _value_key(x)]
    if isinstance(v, (list, tuple)):
        return [a for x in v for a in _value_key(x)]
    return [str(v)]


def _values(calls: list[dict]) -> Counter:
    return Counter(a for c in calls for v in (c.get("arguments") or {}).values() for a in _value_key(v))


def label_match(answer: list[dict] | None, label: list[dict] | None) -> bool | None:
    """Does `answer` (call dicts) carry the label's values in as many calls? None when either is unknown."""
    if answer is None or label is None:
        return None
    if not label or not answer:
        return not label and not answer
    if len(answer) != len(label):
        return False
    return not (_values(label) - _values(answer))


def score_votes(
    items: list[dict],
    threshold: float,
    labels: dict[str, list[dict] | None],
    keep_no_call: bool,
    grounding: str,
    min_votes: int = 2,
) -> dict[str, Any]:
    """Vote and rule-filter sampled items at `threshold`; kept items scored against their labels."""
    from open_toolace.evolve import rule_filter, vote_items

    voted, vote_rejects, _ = vote_items(items, threshold, keep_no_call, min_votes)
    kept, rule_rejects = rule_filter(voted, grounding)
    matches = [label_match(it.get("calls"), labels.get(it["id"])) for it in kept]
    scored = [m for m in matches if m is not None]
    return {
        "kept": len(kept),
        "dropped": dict(
            Counter(f"{r['step']}:{r['reason']}" for r in vote_rejects + rule_rejects).most_common()
        ),
        "kept_match": sum(scored),
        "kept_scored": len(scored),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("adapter", help="the adapter a round would start from (runs/ARM/bootstrap/adapter)")
    ap.add_argument("--config", default="configs/cpu.yaml", help="run config: queries, model, round settings")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument(
        "--temperatures", default=None, help="comma list (default: the config's invoke_temperature)"
    )
    ap.add_argument("--thresholds", default="0.4,0.6,0.8", help="comma list of vote thresholds")
    ap.add_argument("--out", default="runs/bench/round-yield")
    ap.add_argument("--json", default="bench/results/round_yield.json")
    args = ap.parse_args(argv)

    from open_toolace.config import load_config
    from open_toolace.data.queries import unlabeled_pool
    from open_toolace.evolve import budget, sample_invocations
    from open_toolace.generation import Sampling, make_generator
    from open_toolace.hardware import apply_threads
    from open_toolace.io import atomic_write_json, read_jsonl, write_jsonl
    from open_toolace.pipeline.config import RunConfig
    from open_toolace.pipeline.seed import _synth
    from open_toolace.prompts import resolve_prompt_set

    cfg = load_config(RunConfig, args.config, [])
    ev = cfg.evolve
    threads = apply_threads(cfg.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sd = cfg.seed_data
    # the round's query pool, labels kept aside (a round sees unlabeled_pool's output only)
    labeled, _ = _synth("queries", sd.queries_synth, cfg.seed + 1, args.queries, False)
    queries = unlabeled_pool(labeled)[: args.queries]
    labels = {ex["id"]: ex.get("calls") for ex in labeled}
    seed_examples, _ = _synth("seed", sd.synth, cfg.seed, sd.limit, False)

    prompt_set = resolve_prompt_set(None, args.adapter)
    gen = make_generator(cfg.backend, cfg.model, adapter=args.adapter, **dict(cfg.backend_args))
    t0 = time.perf_counter()
    tools = tool_stage(gen, queries, ev.m, ev.tool_sampling(cfg.seed), prompt_set, out, progress=cfg.progress)
    items = read_jsonl(out / "tools_kept.jsonl")
    budgets = budget.answer_budgets(seed_examples, budget.counter_of(gen))
    timings = {"tools": round(time.perf_counter() - t0, 1)}

    def sample(sampling: Sampling) -> list[dict]:
        done: list[dict | None] = [None] * len(items)
        for cap, idx in budget.group_by_budget(items, budgets, sampling.max_new_tokens).items():
            outs = sample_invocations(
                gen, [items[i] for i in idx], sampling.with_(max_new_tokens=cap), cfg.progress, prompt_set
            )
            for i, o in zip(idx, outs, strict=True):
                done[i] = o
        return [o for o in done if o is not None]

    t0 = time.perf_counter()
    greedy = sample(ev.invocation_sampling(cfg.seed).with_(n=1, temperature=0.0))
    timings["greedy"] = round(time.perf_counter() - t0, 1)
    write_jsonl(out / "greedy.jsonl", greedy)
    greedy_scores = score_votes(greedy, 1.0, labels, ev.keep_no_call, ev.grounding, min_votes=1)
    greedy_scores["note"] = "one greedy sample per query, kept when it parses and passes the rules"

    temps = [float(t) for t in (args.temperatures or str(ev.invoke_temperature)).split(",")]
    thresholds = [float(t) for t in args.thresholds.split(",")]
    by_temp: dict[str, Any] = {}
    for temp in temps:
        t0 = time.perf_counter()
        sampled = sample(ev.invocation_sampling(cfg.seed + 2).with_(temperature=temp))
        timings[f"invoke_T{temp}"] = round(time.perf_counter() - t0, 1)
        write_jsonl(out / f"invocations_T{temp}.jsonl", sampled)
        by_temp[str(temp)] = {
            str(th): score_votes(sampled, th, labels, ev.keep_no_call, ev.grounding) for th in thresholds
        }

    result = {
        "adapter": args.adapter,
        "config": args.config,
        "model": cfg.model,
        "prompt_set": prompt_set,
        "queries": len(queries),
        "m": ev.m,
        "k": ev.k,
        "tool_stage": tools,
        "greedy": greedy_scores,
        "vote": by_temp,
        "seconds": timings,
        "machine": machine(cfg.backend_args.get("dtype", "auto"), torch_threads=threads),
        **stamp("round_yield.py", argv),
    }
    atomic_write_json(args.json, result)
    n = len(queries)
    print(f"{len(items)}/{n} queries with a valid tool; greedy: kept {greedy_scores['kept']}, "
          f"matching the label {greedy_scores['kept_match']}/{greedy_scores['kept_scored']}")  # fmt: skip
    print(f"{'T':>5}{'threshold':>11}{'kept':>7}{'yield':>8}{'match':>9}  dropped")
    for temp, rows in by_temp.items():
        for th, r in rows.items():
            print(f"{temp:>5}{th:>11}{r['kept']:>7}{r['kept'] / max(1, n):>8.0%}"
                  f"{r['kept_match']:>5}/{r['kept_scored']:<3}  {r['dropped']}")  # fmt: skip
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
