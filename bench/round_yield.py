"""Benchmark: what a self-evolution round keeps, and how often what it keeps is right, across vote settings.

A round's yield (queries that end as kept triplets) and the quality of what it keeps decide whether rounds can
teach anything. This runs one round's model stages from one adapter, without training: the tool stage
(`evolve.m` tools per query, as `bench/tool_writing.py`), then `k` invocation samples per query at each
`--temperatures` value (one sampling pass per temperature, reused by every threshold), then the vote at each
`--thresholds` value (each also with `evolve.relax_tools`, keys ending in `/relax`) and the rule filter (with
each `--coverage` mode: off, and numbers, which also drops calls that leave out a number the query states),
and the same votes as a fallback (keys ending in `/fallback`): the greedy answer where it survives the rules,
else the vote. The queries are the run config's unlabeled pool (offline synthesis, domains held out of the
seed set); their synthesized labels, which a round never sees, score the kept answers.

The label check compares argument *values*, not names (the model names its own tools and parameters): an
answer matches when it has as many calls as the label and every label value appears among its values
(strings compared case- and space-insensitively, numbers by value, a percentage as x or x/100; boolean
flags of the label, which a query implies rather than states, are not required). `[]` matches a no-call
label. A greedy
sample per query (T=0) is scored the same way, so `kept_match` can be read against what one answer gets.

    .venv/bin/python bench/round_yield.py runs/ARM/bootstrap/adapter --config configs/cpu.yaml --queries 200 \
        --temperatures 0.4,0.7 --thresholds 0.4,0.6,0.8 [evolve.tool_samples=3 ...]

Trailing `key=value` arguments override the config (as on `toolace run`'s command line).

A rerun with the same adapter, config and query count reuses the outputs saved under --out (tools,
greedy and sampled invocations) and only votes again, so other thresholds cost no generation; --fresh
generates everything again.

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
from tool_writing import tool_stage, tool_summary  # noqa: E402


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


def _values(calls: list[dict]) -> set[str]:
    return {a for c in calls for v in (c.get("arguments") or {}).values() for a in _value_key(v)}


def _scaled(atom: str) -> set[str]:
    """A number atom as itself, x100 and /100 (57% may be written 57 or 0.57)."""
    try:
        x = float(atom)
    except ValueError:
        return {atom}
    return {atom, repr(round(x * 100, 9)), repr(round(x / 100, 9))}


def label_match(answer: list[dict] | None, label: list[dict] | None) -> bool | None:
    """Does `answer` (call dicts) carry the label's values in as many calls? None when either is unknown."""
    if answer is None or label is None:
        return None
    if not label or not answer:
        return not label and not answer
    if len(answer) != len(label):
        return False
    have = _values(answer)
    pool = {a for atom in have for a in _scaled(atom)}
    need = _values(label)
    return all(atom in ("true", "false") or atom in have or _scaled(atom) & pool for atom in need)


def _kept_and_rejects(
    items: list[dict],
    threshold: float,
    keep_no_call: bool,
    grounding: str,
    min_votes: int,
    coverage: str,
    relax: bool,
) -> tuple[list[dict], list[dict], list[dict]]:
    from open_toolace.evolve import rule_filter, vote_items

    voted, vote_rejects, records = vote_items(items, threshold, keep_no_call, min_votes, relax)
    kept, rule_rejects = rule_filter(voted, grounding, coverage)
    return kept, vote_rejects + rule_rejects, records


def _scores(kept: list[dict], rejects: list[dict], labels: dict[str, list[dict] | None]) -> dict[str, Any]:
    matches = [label_match(it.get("calls"), labels.get(it["id"])) for it in kept]
    scored = [m for m in matches if m is not None]
    return {
        "kept": len(kept),
        "dropped": dict(Counter(f"{r['step']}:{r['reason']}" for r in rejects).most_common()),
        "kept_match": sum(scored),
        "kept_scored": len(scored),
        "kept_multi_call": sum(len(it.get("calls") or []) > 1 for it in kept),
    }


def score_votes(
    items: list[dict],
    threshold: float,
    labels: dict[str, list[dict] | None],
    keep_no_call: bool,
    grounding: str,
    min_votes: int = 2,
    coverage: str = "off",
    relax: bool = False,
) -> dict[str, Any]:
    """Vote and rule-filter sampled items at `threshold`; kept items scored against their labels."""
    kept, rejects, records = _kept_and_rejects(
        items, threshold, keep_no_call, grounding, min_votes, coverage, relax
    )
    return {
        **_scores(kept, rejects, labels),
        **({"relaxed_items": sum(1 for r in records if r.get("relaxed"))} if relax else {}),
    }


def score_fallback(
    greedy: list[dict],
    sampled: list[dict],
    threshold: float,
    labels: dict[str, list[dict] | None],
    keep_no_call: bool,
    grounding: str,
    min_votes: int = 2,
    coverage: str = "off",
    relax: bool = False,
) -> dict[str, Any]:
    """The greedy answer where it survives the rules, else the vote of the sampled answers: what a round
    keeps if it samples only the queries whose greedy answer fails. Drops are the vote's reasons."""
    g_kept, _, _ = _kept_and_rejects(greedy, 1.0, keep_no_call, grounding, 1, coverage, relax)
    v_kept, v_rejects, _ = _kept_and_rejects(
        sampled, threshold, keep_no_call, grounding, min_votes, coverage, relax
    )
    have = {it["id"] for it in g_kept}
    from_vote = [it for it in v_kept if it["id"] not in have]
    out = _scores(g_kept + from_vote, [r for r in v_rejects if r["id"] not in have], labels)
    return {**out, "from_greedy": len(g_kept), "from_vote": len(from_vote)}


def source_stage(
    generate: Any,
    queries: list[dict],
    ev: Any,
    catalog: list[Any],
    seed: int,
    prompts: str,
    out: Path,
    progress: bool,
) -> dict[str, Any]:
    """The tool stage with `evolve.tool_source` retrieve or both (`generate()` gives the model), BM25 over
    `catalog` (raw tool entries), through the round's own `evolve.candidate_tools`."""
    from open_toolace.evolve import ToolIndex, candidate_tools, catalog_tools, generate_tools
    from open_toolace.io import write_jsonl

    def write(qs: Any) -> Any:
        return generate_tools(generate(), qs, ev.m, ev.tool_sampling(seed), progress, prompts)

    tools, _ = catalog_tools(catalog)
    kept, rejected, retrieved = candidate_tools(ev.tool_source, queries, ev.m, ev.retrieve_top_n, write,
                                                ToolIndex(tools))  # fmt: skip
    write_jsonl(out / "tools_kept.jsonl", kept)
    write_jsonl(out / "tools_rejected.jsonl", rejected)
    return {**tool_summary(len(queries), kept, rejected), "catalog": len(tools), "retrieved": retrieved}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("adapter", help="the adapter a round would start from (runs/ARM/bootstrap/adapter)")
    ap.add_argument("--config", default="configs/cpu.yaml", help="run config: queries, model, round settings")
    ap.add_argument(
        "overrides", nargs="*", help="dotted key=value overrides of the config, e.g. evolve.tool_samples=3"
    )
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument(
        "--temperatures", default=None, help="comma list (default: the config's invoke_temperature)"
    )
    ap.add_argument("--thresholds", default="0.4,0.6,0.8", help="comma list of vote thresholds")
    ap.add_argument("--out", default="runs/bench/round-yield")
    ap.add_argument("--json", default="bench/results/round_yield.json")
    ap.add_argument(
        "--coverage",
        default="off,numbers",
        help="comma list of rule-filter coverage modes to score each vote with",
    )
    ap.add_argument(
        "--catalog",
        default="seed",
        choices=["seed", "pool"],
        help="with evolve.tool_source retrieve|both and no evolve.tools: retrieve from the seed's tools and "
        "API pool (what a run does), or from the held-out APIs the queries were written from (a user "
        "whose catalog holds the APIs their queries need)",
    )
    ap.add_argument("--fresh", action="store_true", help="generate again even where outputs are saved")
    args = ap.parse_intermixed_args(argv)  # key=value overrides may follow the options

    from open_toolace.config import load_config
    from open_toolace.data.queries import unlabeled_pool
    from open_toolace.evolve import budget, sample_invocations
    from open_toolace.generation import Sampling, make_generator
    from open_toolace.hardware import apply_threads
    from open_toolace.io import atomic_write_json, read_json, read_jsonl, write_jsonl
    from open_toolace.pipeline.catalog import catalog_entries
    from open_toolace.pipeline.config import RunConfig
    from open_toolace.pipeline.seed import _synth
    from open_toolace.prompts import resolve_prompt_set

    cfg = load_config(RunConfig, args.config, args.overrides)
    ev = cfg.evolve
    threads = apply_threads(cfg.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sd = cfg.seed_data
    # the round's query pool (the pipeline's seed + 1 stream), its synthesized labels kept aside
    labels: dict[str, list[dict]] = {}
    held_out_apis: list[dict] = []
    pool, _ = _synth(
        "queries", sd.queries_synth, cfg.seed + 1, args.queries, False, labels=labels, catalog=held_out_apis
    )
    queries = unlabeled_pool(pool)[: args.queries]
    seed_examples, seed_apis = _synth("seed", sd.synth, cfg.seed, sd.limit, False)

    prompt_set = resolve_prompt_set(None, args.adapter)
    # Outputs saved under --out are reused when they were made with the same settings (a rerun rescores
    # them, e.g. at other thresholds, without the model); --fresh, or other settings, makes them again.
    settings = {
        "adapter": str(Path(args.adapter).resolve()),
        "config": args.config,
        "overrides": args.overrides,
        "queries": len(queries),
        **({"catalog": args.catalog} if ev.tool_source != "generate" else {}),
    }
    if args.fresh or not (out / "settings.json").exists() or read_json(out / "settings.json") != settings:
        for f in out.glob("*.jsonl"):
            f.unlink()
        atomic_write_json(out / "settings.json", settings)
    gens: list[Any] = []

    def gen() -> Any:  # the model is loaded only if something has to be generated
        if not gens:
            gens.append(
                make_generator(cfg.backend, cfg.model, adapter=args.adapter, **dict(cfg.backend_args))
            )
        return gens[0]

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if (out / "tools_kept.jsonl").exists() and (out / "tools_rejected.jsonl").exists():
        kept_tools, rejected = read_jsonl(out / "tools_kept.jsonl"), read_jsonl(out / "tools_rejected.jsonl")
        tools = tool_summary(len(queries), kept_tools, rejected)
    else:
        if ev.tool_source == "generate":
            tools = tool_stage(
                gen(), queries, ev.m, ev.tool_sampling(cfg.seed), prompt_set, out, cfg.progress
            )
        else:
            if args.catalog == "pool":  # the held-out APIs the queries were written from
                catalog = [row["tool"] for row in held_out_apis]
            else:  # what a round of the run would retrieve from (the seed's tools and API pool)
                write_jsonl(out / "seed_apis.jsonl", seed_apis)
                catalog = catalog_entries(ev.tools, seed_examples, out / "seed_apis.jsonl")[0]
            generate = gen if ev.tool_source == "both" else None
            tools = source_stage(generate, queries, ev, catalog, cfg.seed, prompt_set, out, cfg.progress)
        timings["tools"] = round(time.perf_counter() - t0, 1)
    items = read_jsonl(out / "tools_kept.jsonl")

    def sample(name: str, sampling: Sampling) -> list[dict]:
        path = out / f"{name}.jsonl"
        if path.exists():
            return read_jsonl(path)
        t0 = time.perf_counter()
        budgets = budget.answer_budgets(seed_examples, budget.counter_of(gen()))
        done: list[dict | None] = [None] * len(items)
        for cap, idx in budget.group_by_budget(items, budgets, sampling.max_new_tokens).items():
            outs = sample_invocations(
                gen(), [items[i] for i in idx], sampling.with_(max_new_tokens=cap), cfg.progress, prompt_set
            )
            for i, o in zip(idx, outs, strict=True):
                done[i] = o
        rows = [o for o in done if o is not None]
        write_jsonl(path, rows)
        timings[name] = round(time.perf_counter() - t0, 1)
        return rows

    greedy = sample("greedy", ev.invocation_sampling(cfg.seed).with_(n=1, temperature=0.0))
    coverages = args.coverage.split(",")
    # every vote with and without evolve.relax_tools ("/relax"): the same samples, scored both ways
    modes = [(cov, relax) for cov in coverages for relax in (False, True)]

    def mode(cov: str, relax: bool) -> str:
        return f"{cov}/relax" if relax else cov

    greedy_scores: dict[str, Any] = {
        mode(cov, rx): score_votes(greedy, 1.0, labels, ev.keep_no_call, ev.grounding, 1, cov, rx)
        for cov, rx in modes
    }
    greedy_scores["note"] = "one greedy sample per query, kept when it parses and passes the rules"

    temps = [float(t) for t in (args.temperatures or str(ev.invoke_temperature)).split(",")]
    thresholds = [float(t) for t in args.thresholds.split(",")]
    by_temp: dict[str, Any] = {}
    for temp in temps:
        sampled = sample(f"invocations_T{temp}", ev.invocation_sampling(cfg.seed + 2).with_(temperature=temp))
        by_temp[str(temp)] = {
            f"{th}/{mode(cov, rx)}": score_votes(
                sampled, th, labels, ev.keep_no_call, ev.grounding, ev.min_votes, cov, rx
            )
            for th in thresholds
            for cov, rx in modes
        } | {  # greedy first, the vote where the greedy answer fails (keys ending in "/fallback")
            f"{th}/{mode(cov, rx)}/fallback": score_fallback(
                greedy, sampled, th, labels, ev.keep_no_call, ev.grounding, ev.min_votes, cov, rx
            )
            for th in thresholds
            for cov, rx in modes
        }

    result = {
        "adapter": args.adapter,
        "config": args.config,
        "overrides": args.overrides,
        "model": cfg.model,
        "prompt_set": prompt_set,
        "queries": len(queries),
        "labeled_queries": sum(labels.get(q["id"]) is not None for q in queries),
        "m": ev.m,
        "k": ev.k,
        "tool_stage": tools,
        "greedy": greedy_scores,
        "vote": by_temp,
        "seconds": timings,  # of the stages generated in this invocation (none when all were reused)
        "machine": machine(cfg.backend_args.get("dtype", "auto"), torch_threads=threads),
        **stamp("round_yield.py", argv),
    }
    atomic_write_json(args.json, result)
    n = len(queries)
    print(f"{len(items)}/{n} queries with a valid tool; greedy: "
          + ", ".join(f"{cov}: kept {g['kept']}, matching the label {g['kept_match']}/{g['kept_scored']}"
                      for cov, g in greedy_scores.items() if cov != "note"))  # fmt: skip
    print(f"{'T':>5}{'threshold/coverage':>30}{'kept':>7}{'yield':>8}{'match':>9}  dropped")
    for temp, rows in by_temp.items():
        for th, r in rows.items():
            print(f"{temp:>5}{th:>30}{r['kept']:>7}{r['kept'] / max(1, n):>8.0%}"
                  f"{r['kept_match']:>5}/{r['kept_scored']:<3}  {r['dropped']}")  # fmt: skip
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
