"""Experiment: which tool-doc format and prompt set the bootstrap should train in (issue "Lean prompts").

Two arms, everything else equal: the demo's seed examples (300, offline synthesis, seed 0), the demo's
bootstrap mixture caps (the same examples: the selection does not depend on rendering) and LoRA settings,
one epoch each.

    json    tools as a JSON list under the BFCL-style instruction (prompt set `bfcl`)
    python  tools as Python signatures under a ~25-token instruction (prompt set `lean`)

Per arm: supervised/total training tokens and wall time; BFCL on full categories (the non-live set, Java and
JavaScript included, and live_simple), evaluated side by side (per category, arm after arm, alternating
which goes first), with greedy decoding in the generation dtype `auto` picks; the share of valid tools each
arm writes for 200 held-out queries (the rounds' query pool: domains held out of the seed set, sampled as the
demo's rounds sample). Arms are compared on the same items with paired 95% intervals.

    .venv/bin/python bench/prompt_ab.py                       # ~1.5 h on 2 cores; run again to resume
    .venv/bin/python bench/prompt_ab.py --model tiny-random --seed-limit 20 --limit 2 --queries 4 --out runs/ab-smoke

Writes bench/results/prompt_ab.json and docs/results/prompt-ab.md (run directory: --out).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from open_toolace.config import load_config
from open_toolace.hardware import apply_threads

_BENCH = str(Path(__file__).resolve().parent)
if _BENCH not in sys.path:  # a test that loads this file by path has no bench/ on sys.path
    sys.path.append(_BENCH)

from _ab import copy_seed, pct, round_paired, write_result  # noqa: E402
from _results import machine, stamp  # noqa: E402
from tool_writing import tool_stage  # noqa: E402

ARMS = {"json": "bfcl", "python": "lean"}  # arm -> prompt set (its tool-doc format is the arm's name)
CATEGORIES = "non_live,live_simple"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--config",
        default="docs/results/demo-v7-config.yaml",
        help="run config the seed data and training come from (default: the demo's config when this A/B was "
        "run: 300 seed examples mixed by counts, so both arms train the very same samples)",
    )
    ap.add_argument("--model", default=None, help="base model (default: the config's)")
    ap.add_argument("--seed-limit", type=int, default=None, help="seed examples (default: the config's)")
    ap.add_argument("--categories", default=CATEGORIES)
    ap.add_argument("--limit", type=int, default=None, help="first N items per category (default: all)")
    # 256: BFCL's parallel answers run to 241 tokens (p95 125) in python call syntax; a trained model stops early
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--queries", type=int, default=200, help="held-out queries for the tool-writing check")
    ap.add_argument("--out", default="runs/prompt-ab")
    ap.add_argument("--json", default="bench/results/prompt_ab.json")
    ap.add_argument("--report", default="docs/results/prompt-ab.md")
    ap.add_argument("--steps", default="train,eval,tools,report", help="comma list of steps to run")
    ap.add_argument(
        "--mix",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override of the bootstrap mixture (TaskMixConfig), the same for both arms",
    )
    ap.add_argument(
        "--seed-from", default=None, help="an earlier A/B run dir whose seed examples and queries to reuse"
    )
    args = ap.parse_args(argv)
    args.argv = argv  # recorded as the command (None: this process's arguments)
    steps = set(args.steps.split(","))

    from open_toolace.generation import make_generator
    from open_toolace.io import Manifest, atomic_write_json, read_jsonl, write_jsonl
    from open_toolace.pipeline.bootstrap import train_adapter
    from open_toolace.pipeline.config import RunConfig
    from open_toolace.pipeline.manifest import Ctx, Generators, NoHooks
    from open_toolace.pipeline.seed import query_pool, seed_examples
    from open_toolace.training.mixture import build_mixture

    over = ["evolve.rounds=0"] + ([f"model={args.model}"] if args.model else [])
    over += [f"seed_data.limit={args.seed_limit}"] if args.seed_limit else []
    over += [f"bootstrap.mix.{kv}" for kv in args.mix]
    cfg = load_config(RunConfig, args.config, over)
    threads = apply_threads(cfg.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gens = Generators(make_generator, cfg.backend, cfg.model, dict(cfg.backend_args))
    ctx = Ctx(out, Manifest.open(out), gens, NoHooks())

    # The same seed examples and held-out queries for both arms (and, with --seed-from, as an earlier A/B).
    def copy(name: str) -> dict[str, Any]:
        return copy_seed(ctx, Path(args.seed_from) / "seed", name, args.seed_from)

    ctx.stage("seed", lambda: copy("examples.jsonl") if args.seed_from else seed_examples(cfg, ctx))
    ctx.stage(
        "queries", lambda: copy("queries.jsonl") if args.seed_from else query_pool(cfg, ctx, args.queries)
    )
    examples = read_jsonl(ctx.path("seed", "examples.jsonl"))

    def samples(arm: str) -> dict[str, Any]:
        mix = replace(cfg.bootstrap.mix, seed=cfg.seed, prompt_set=ARMS[arm])
        rows, report = build_mixture(examples, mix)
        n = write_jsonl(ctx.path(arm, "samples.jsonl"), rows)
        atomic_write_json(ctx.path(arm, "samples_report.json"), report)
        return {"samples": n, "tasks": report.get("tasks")}

    for arm, prompt_set in ARMS.items():
        ctx.stage(f"{arm}.samples", lambda arm=arm: samples(arm))
        if "train" in steps:
            ctx.stage(
                f"{arm}.train",
                lambda arm=arm, ps=prompt_set: train_adapter(
                    ctx,
                    f"{arm}.train",
                    cfg.bootstrap.train,
                    model=cfg.model,
                    samples=ctx.path(arm, "samples.jsonl"),
                    out=ctx.path(arm, "adapter"),
                    init_adapter=None,
                    seed=cfg.seed,
                    prompt_set=ps,
                ),
            )
    gens.release()

    adapters = {arm: ctx.path(arm, "adapter") for arm in ARMS}
    dtype = cfg.backend_args.get("dtype", "auto")
    live: dict[str, Any] = {}

    def generator(arm: str) -> Any:  # both arms' models live side by side (2 x 135M)
        if arm not in live:
            live[arm] = make_generator(
                "hf", cfg.model, adapter=str(adapters[arm]), batch_size=args.batch_size, dtype=dtype
            )
        return live[arm]

    if "eval" in steps:
        ctx.stage("eval", lambda: eval_arms(args, ctx, generator, dtype))
    if "tools" in steps:
        queries = read_jsonl(ctx.path("seed", "queries.jsonl"))[: args.queries]
        for arm in ARMS:
            ctx.stage(f"{arm}.tools", lambda arm=arm: tool_writing(cfg, ctx, arm, generator(arm), queries))
    live.clear()
    if "report" in steps:
        write_result(summarize(args, cfg, ctx, adapters, threads), args.json, args.report, render_report)
    return 0


def eval_arms(args: argparse.Namespace, ctx: Any, generator: Any, dtype: str) -> dict[str, Any]:
    from open_toolace.evaluate.compare import evaluate_side_by_side
    from open_toolace.evaluate.runner import generator_dtype

    arms = {arm: (generator(arm), ARMS[arm]) for arm in ARMS}
    meta = {
        arm: {"model": "bootstrap", "adapter": str(ctx.path(arm, "adapter")), "backend": "hf",
              "dtype": generator_dtype(arms[arm][0], dtype)}
        for arm in ARMS
    }  # fmt: skip
    res = evaluate_side_by_side(
        arms,
        args.categories,
        ctx.path("eval"),
        limit=args.limit,
        max_new_tokens=args.max_new_tokens,
        save_every=args.batch_size,
        meta=meta,
    )
    return {"categories": res["categories"], "items": {a: s["n_items"] for a, s in res["scores"].items()}}


def tool_writing(cfg: Any, ctx: Any, arm: str, gen: Any, queries: list[dict]) -> dict[str, Any]:
    """The share of held-out queries for which the arm writes a valid tool (what a round runs on)."""
    ev = cfg.evolve
    sampling = ev.tool_sampling(cfg.seed)
    stats = tool_stage(gen, queries, ev.m, sampling, ARMS[arm], ctx.path(arm))
    return {**stats, "m": ev.m, "sampling": sampling.astuple()}


def summarize(args: argparse.Namespace, cfg: Any, ctx: Any, adapters: dict, threads: int) -> dict[str, Any]:
    from open_toolace.evaluate.bfcl import resolve_categories
    from open_toolace.evaluate.compare import TIMING, compare_dirs, seconds_over
    from open_toolace.io import read_json

    man = ctx.manifest
    non_live = resolve_categories("non_live")
    timing = read_json(ctx.path("eval", TIMING))
    arms: dict[str, Any] = {}
    for arm in ARMS:
        tm = read_json(adapters[arm] / "train_metrics.json")
        scores = read_json(ctx.path("eval", arm, "scores.json"))
        arms[arm] = {
            "prompt_set": ARMS[arm],
            "train": {
                "samples": tm["data"]["samples"],
                "by_task": tm["data"]["by_task"],
                "tokens": tm["data"]["tokens"],
                "supervised_tokens": tm["data"]["loss_tokens"],
                "steps": tm["global_step"],
                "wall_s": tm["wall_s"],
                "tokens_per_s": tm["tokens_per_s"],
                "dtype": tm["machine"]["dtype"],
            },
            "accuracy": {c: round(v["accuracy"], 4) for c, v in scores["categories"].items()},
            "irrelevance_honest": round(scores["categories"]["irrelevance"]["honest_accuracy"], 4)
            if "irrelevance" in scores["categories"]
            else None,
            "summary": {k: round(v["accuracy"], 4) for k, v in scores["summary"].items()},
            "eval_seconds": {
                "non_live": seconds_over(timing[arm], non_live),
                "all": seconds_over(timing[arm], resolve_categories(args.categories)),
                "by_category": {c: timing[arm].get(c) for c in resolve_categories(args.categories)},
                "partial": sorted(k.split(".")[0] for k in timing[arm] if k.endswith(".partial")),
            },
            "tools": man.get(f"{arm}.tools"),
        }
    paired = compare_dirs(ctx.path("eval", "json"), ctx.path("eval", "python"))
    return {
        "arms": arms,
        "paired_python_minus_json": round_paired(paired),
        "model": cfg.model,
        "seed_examples": (man.get("seed") or {}).get("examples"),
        "categories": resolve_categories(args.categories),
        "limit": args.limit,
        "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size,
        "machine": machine(cfg.backend_args.get("dtype"), torch_threads=threads, python=True),
        **stamp("prompt_ab.py", args.argv),
    }


def render_report(r: dict[str, Any]) -> str:
    a, b = r["arms"]["json"], r["arms"]["python"]
    lines = [
        "# JSON + BFCL prompt vs python + lean prompt: the bootstrap A/B",
        "",
        f"`{r['command']}` · {r['date']} · {r['model']} · {r['seed_examples']} seed examples · "
        f"{r['machine'].get('cpu')}, {r['machine'].get('cores')} cores, generation {r['machine'].get('dtype')}",
        "",
        "## Training (same examples, one epoch)",
        "",
        "| | json | python | json / python |",
        "|---|---:|---:|---:|",
    ]
    for key, label in (
        ("tokens", "tokens"),
        ("supervised_tokens", "supervised tokens"),
        ("wall_s", "wall (s)"),
    ):
        x, y = a["train"][key], b["train"][key]
        lines.append(f"| {label} | {x:,} | {y:,} | {x / y:.2f}x |")
    lines += [
        "",
        "## BFCL (full categories, greedy); paired difference python - json with 95% interval",
        "",
        "| category | items | json | python | python - json | 95% interval | only json right | only python right |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cat, p in r["paired_python_minus_json"].items():
        lines.append(
            f"| {cat} | {p['n']} | {pct(p['a'])} | {pct(p['b'])} | {100 * p['diff']:+.1f} | "
            f"[{100 * p['ci95'][0]:+.1f}, {100 * p['ci95'][1]:+.1f}] | {p['a_only']} | {p['b_only']} |"
        )
    ea, eb = a["eval_seconds"], b["eval_seconds"]
    lines += [
        "",
        "## Evaluation time (generation seconds, measured side by side in one run)",
        "",
        "| | json | python | json / python |",
        "|---|---:|---:|---:|",
        f"| non-live set ({', '.join(c for c in r['categories'] if not c.startswith('live'))}) | "
        f"{ea['non_live']:.0f} | {eb['non_live']:.0f} | {ea['non_live'] / max(eb['non_live'], 1e-9):.2f}x |",
        f"| everything run | {ea['all']:.0f} | {eb['all']:.0f} | {ea['all'] / max(eb['all'], 1e-9):.2f}x |",
        "",
        "## Tools written for held-out queries (the rounds' tool stage)",
        "",
        "| | json | python |",
        "|---|---:|---:|",
    ]
    ta, tb = a.get("tools") or {}, b.get("tools") or {}
    if ta and tb:
        lines.append(
            f"| valid tool written | {ta['valid']}/{ta['queries']} | {tb['valid']}/{tb['queries']} |"
        )
        lines.append(f"| rejections | {ta['rejected']} | {tb['rejected']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
