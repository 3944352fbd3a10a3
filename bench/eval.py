"""Benchmark: BFCL evaluation speed (and the scores) of a model through the batched `hf` backend.

Times `evaluate_bfcl` over the full non-live set (BFCL's `non_live` group: simple_python/java/javascript,
multiple, parallel, parallel_multiple, irrelevance — 1,390 items) and, side by side in the same run, a
naive loop (one request per `generate` call) against the batched path on the same small subset, so the
speed-up is a ratio measured on one machine at one time. Target: the full set in under 15 minutes on 2 cores.

    .venv/bin/python bench/eval.py --dtype bfloat16 --max-new-tokens 128   # the README's number
    .venv/bin/python bench/eval.py                          # full non-live set, embedded SmolLM2-135M, fp32
    .venv/bin/python bench/eval.py --limit 3 --naive 4      # a quick check that it works
    .venv/bin/python bench/eval.py --prompt-tokens          # prompt tokens of the set, no generation
    .venv/bin/python bench/eval.py --levers 10 --dtype bfloat16 --max-new-tokens 128   # each speed lever, side by side
    .venv/bin/python bench/eval.py --batch-sizes 32,64,128 --dtype bfloat16 --max-new-tokens 128  # batch sizes
    .venv/bin/python bench/eval.py --categories non_live,live --model embedded:gemma3-270m
    .venv/bin/python bench/eval.py --arms json=bfcl,python=lean        # prompt sets side by side, untrained
    .venv/bin/python bench/eval.py --arms json=bfcl@runs/prompt-ab/json/adapter,python=lean@runs/prompt-ab/python/adapter

`--arms NAME=PROMPT_SET[@ADAPTER],...` evaluates each arm over the same categories side by side in one run
(category by category, alternating which arm goes first: `evaluate.compare.evaluate_side_by_side`) and
writes bench/results/eval_arms.json: per arm the generation seconds of the full set against the targets
(untrained <= 12 min, trained <= 8 min on 2 cores, for the default prompt set), the scores, and the paired
differences. bench/prompt_ab.py runs the same function for its trained arms.

Prints a table and writes bench/results/eval.json (the run directory goes to --out).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from open_toolace.generation import Sampling

_BENCH = str(Path(__file__).resolve().parent)
if _BENCH not in sys.path:  # a test that loads this file by path has no bench/ on sys.path
    sys.path.append(_BENCH)

from _results import machine, stamp  # noqa: E402

TARGET_SECONDS = 15 * 60
# Targets of the full non-live set in the default prompt set on 2 cores (issue "Lean prompts").
ARM_TARGET_SECONDS = {"untrained": 12 * 60, "trained": 8 * 60}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="embedded:smollm2-135m")
    ap.add_argument("--adapter", default=None)
    ap.add_argument("--categories", default="non_live")
    ap.add_argument("--limit", type=int, default=None, help="first N items per category (default: all)")
    ap.add_argument(
        "--batch-size", type=int, default=128, help="prompts per batch and per save (see --batch-sizes)"
    )
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument(
        "--save-every",
        type=int,
        default=None,
        help="--arms: items per generate call (default: --batch-size); several batches per call let the "
        "hf backend decode the last rows of every batch together (defer_rows)",
    )
    ap.add_argument(
        "--dtype",
        default="auto",
        help="weights dtype of the hf backend (auto: bfloat16 on CUDA with bf16 or a CPU with native bf16, "
        "else float32: open_toolace.hardware)",
    )
    ap.add_argument(
        "--naive", type=int, default=16, help="items in the naive-vs-batched comparison (0: skip)"
    )
    ap.add_argument("--out", default="runs/bench/eval", help="run directory of the evaluation")
    ap.add_argument("--json", default="bench/results/eval.json")
    ap.add_argument(
        "--prompt-tokens",
        action="store_true",
        help="only count the prompt tokens of the set (what the prefill costs); no generation",
    )
    ap.add_argument(
        "--levers",
        type=int,
        default=0,
        help="time the hf backend's speed levers one by one on the first N items of each category (no scoring)",
    )
    ap.add_argument(
        "--batch-sizes",
        default=None,
        help="time these batch sizes (e.g. 32,64,128) on --window items from the middle of the length-sorted set",
    )
    ap.add_argument("--window", type=int, default=128, help="items of the --batch-sizes comparison")
    ap.add_argument("--repeats", type=int, default=2, help="rounds of the --levers comparison (interleaved)")
    ap.add_argument("--prompt-set", default="bfcl", help="prompt set of --prompt-tokens (bfcl | lean)")
    ap.add_argument(
        "--arms",
        default=None,
        help="NAME=PROMPT_SET[@ADAPTER],...: evaluate these side by side (e.g. json=bfcl,python=lean)",
    )
    ap.add_argument(
        "--arm-arg",
        action="append",
        default=[],
        metavar="NAME.KEY=VALUE",
        help="an HFGenerator setting of one arm of --arms (e.g. fast.stop_runaway=true, "
        "fast.decode_segment=16; repeatable); with any, the result goes to eval_arms_{kind}_levers.json",
    )
    args = ap.parse_args(argv)
    if args.arms:
        return time_arms(args, argv)
    if args.prompt_tokens:
        from eval_tokens import count_prompt_tokens

        return count_prompt_tokens(args)
    if args.levers or args.batch_sizes:
        from eval_levers import time_levers

        return time_levers(args, argv)

    from open_toolace.evaluate import evaluate_bfcl, load_bfcl, resolve_categories
    from open_toolace.evaluate.bfcl import invocation_request
    from open_toolace.generation import make_generator
    from open_toolace.io import atomic_write_json

    cats = resolve_categories(args.categories)
    t = time.perf_counter()
    gen = make_generator("hf", args.model, adapter=args.adapter, batch_size=args.batch_size, dtype=args.dtype)
    load_s = time.perf_counter() - t

    # 1) the evaluation itself, from scratch (fresh), timed end to end: generate + score + write
    t = time.perf_counter()
    scores = evaluate_bfcl(
        gen,
        cats,
        args.limit,
        args.out,
        max_new_tokens=args.max_new_tokens,
        save_every=args.batch_size,  # one generate call per batch
        fresh=True,
        progress=True,
        meta={"model": args.model, "adapter": args.adapter, "backend": "hf", "dtype": args.dtype},
    )
    eval_s = time.perf_counter() - t
    n = scores["n_items"]
    full_n = len(load_bfcl(cats))  # with --limit, the full set's time is projected from the items/s
    projected_s = full_n * eval_s / n

    # 2) naive loop vs batched on the same subset, side by side
    naive = None
    if args.naive > 0:
        # the first items of the first category: prompts of similar length, as the evaluation's
        # length-sorted chunks give the backend (a mix of lengths would mostly measure padding)
        subset = load_bfcl(cats[:1], args.naive)
        reqs = [invocation_request(it) for it in subset]
        kw = {"sampling": Sampling(max_new_tokens=args.max_new_tokens), "progress": False}
        t = time.perf_counter()
        batched_out = gen.generate(reqs, **kw)
        batched_s = time.perf_counter() - t
        t = time.perf_counter()
        naive_out = [gen.generate([r], **kw)[0] for r in reqs]
        naive_s = time.perf_counter() - t
        same = sum(a == b for a, b in zip(batched_out, naive_out, strict=True))
        naive = {
            "items": len(reqs),
            "naive_seconds": round(naive_s, 2),
            "batched_seconds": round(batched_s, 2),
            "speedup": round(naive_s / batched_s, 2),
            "identical_outputs": same,  # greedy: padding may flip a near-tie, so not always all
        }

    result = {
        "model": args.model,
        "adapter": args.adapter,
        "categories": cats,
        "limit": args.limit,
        "n_items": n,
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "dtype": args.dtype,
        "load_seconds": round(load_s, 2),
        "eval_seconds": round(eval_s, 2),
        "items_per_second": round(n / eval_s, 3),
        "full_set_items": full_n,
        "projected_full_set_seconds": round(projected_s, 1),
        "target_seconds": TARGET_SECONDS,
        "meets_target": projected_s < TARGET_SECONDS,
        "naive_vs_batched": naive,
        "summary": {k: round(v["accuracy"], 4) for k, v in scores["summary"].items()},
        "categories_accuracy": {k: round(v["accuracy"], 4) for k, v in scores["categories"].items()},
        "irrelevance_honest": {
            k: round(v["honest_accuracy"], 4)
            for k, v in scores["categories"].items()
            if "honest_accuracy" in v
        },
        "run_dir": args.out,
        "machine": machine(args.dtype, python=True),
        **stamp("eval.py", argv),
    }
    atomic_write_json(args.json, result)

    print(f"\nBFCL eval bench: {args.model} on {', '.join(cats)} ({n} items, limit {args.limit})")
    print(f"{'':<34}{'value':>12}")
    rows = [
        ("model load (s)", f"{load_s:.1f}"),
        ("evaluation wall time (s)", f"{eval_s:.1f}"),
        ("items / s", f"{n / eval_s:.2f}"),
        (f"full set, {full_n} items (min)", f"{projected_s / 60:.1f}"),
        ("target (min)", f"{TARGET_SECONDS / 60:.0f}"),
    ]
    if naive:
        rows += [
            (f"naive loop, {naive['items']} items (s)", f"{naive['naive_seconds']:.1f}"),
            (f"batched, same {naive['items']} items (s)", f"{naive['batched_seconds']:.1f}"),
            ("speed-up batched / naive", f"{naive['speedup']:.2f}x"),
        ]
    rows += [(f"acc {k}", f"{100 * v:.1f}") for k, v in result["summary"].items()]
    rows += [(f"acc {k}", f"{100 * v:.1f}") for k, v in result["categories_accuracy"].items()]
    for label, value in rows:
        print(f"{label:<34}{value:>12}")
    print(f"wrote {args.json}; run directory {args.out}")
    return 0


def parse_arms(spec: str) -> dict[str, tuple[str, str | None]]:
    """`json=bfcl,python=lean@runs/x/adapter` -> {name: (prompt set, adapter or None)}."""
    arms = {}
    for part in spec.split(","):
        name, _, rest = part.partition("=")
        prompt_set, _, adapter = rest.partition("@")
        if not name or not prompt_set:
            raise SystemExit(f"--arms: bad arm {part!r}; use NAME=PROMPT_SET[@ADAPTER]")
        arms[name] = (prompt_set, adapter or None)
    return arms


def parse_arm_args(specs: list[str], arms: Iterable[str]) -> dict[str, dict[str, Any]]:
    """`["fast.stop_runaway=true", "fast.decode_segment=16"]` -> {"fast": {"stop_runaway": True, ...}}
    (values read as YAML scalars)."""
    import yaml

    out: dict[str, dict[str, Any]] = {name: {} for name in arms}
    for spec in specs:
        target, eq, value = spec.partition("=")
        name, dot, key = target.partition(".")
        if not (eq and dot and key) or name not in out:
            raise SystemExit(f"--arm-arg: bad {spec!r}; use NAME.KEY=VALUE with NAME one of {sorted(out)}")
        out[name][key] = yaml.safe_load(value)
    return out


def time_arms(args: argparse.Namespace, argv: list[str] | None) -> int:
    from open_toolace.evaluate.bfcl import resolve_categories
    from open_toolace.evaluate.compare import compare_dirs, evaluate_side_by_side, seconds_over
    from open_toolace.evaluate.runner import generator_dtype
    from open_toolace.generation import make_generator
    from open_toolace.io import atomic_write_json

    spec = parse_arms(args.arms)
    extra = parse_arm_args(args.arm_arg, spec)
    gens = {
        name: make_generator(
            "hf",
            args.model,
            adapter=adapter,
            batch_size=args.batch_size,
            **({"dtype": args.dtype} | extra[name]),  # --arm-arg NAME.dtype=... overrides --dtype
        )
        for name, (_, adapter) in spec.items()
    }
    meta = {
        name: {"model": args.model, "adapter": adapter, "backend": "hf", "dtype": generator_dtype(gens[name])}
        for name, (_, adapter) in spec.items()
    }
    res = evaluate_side_by_side(
        {name: (gens[name], ps) for name, (ps, _) in spec.items()},
        args.categories,
        args.out,
        limit=args.limit,
        max_new_tokens=args.max_new_tokens,
        save_every=args.save_every or args.batch_size,
        meta=meta,
    )
    cats = res["categories"]
    kind = "trained" if any(a for _, a in spec.values()) else "untrained"
    names = list(spec)
    arms = {}
    for name, (ps, adapter) in spec.items():
        sc = res["scores"][name]
        secs = seconds_over(res["timing"][name], cats)
        arms[name] = {
            "prompt_set": ps,
            "adapter": adapter,
            "generator_args": extra[name],
            "runaway_stops": gens[name].runaway_stops,
            # where the generation time went: prefill vs decode steps vs the per-row stop check
            "profile": {k: round(v, 2) for k, v in gens[name].profile.items()},
            "generation_seconds": secs,
            "by_category": {c: res["timing"][name].get(c) for c in cats},
            "partial": sorted(k.split(".")[0] for k in res["timing"][name] if k.endswith(".partial")),
            "n_items": sc["n_items"],
            "accuracy": {c: round(v["accuracy"], 4) for c, v in sc["categories"].items()},
            "summary": {k: round(v["accuracy"], 4) for k, v in sc["summary"].items()},
        }
    paired = compare_dirs(Path(args.out) / names[0], Path(args.out) / names[-1]) if len(names) > 1 else {}
    result = {
        "kind": kind,
        "model": args.model,
        "categories": cats,
        "limit": args.limit,
        "full_set": args.limit is None and cats == resolve_categories("non_live"),
        "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size,
        "save_every": args.save_every or args.batch_size,
        "target_seconds": ARM_TARGET_SECONDS[kind],
        "arms": arms,
        f"paired_{names[-1]}_minus_{names[0]}": paired,
        "machine": machine(args.dtype, python=True),
        **stamp("eval.py", argv),
    }
    suffix = "_levers" if any(extra.values()) else ""
    out = atomic_write_json(Path(args.json).with_name(f"eval_arms_{kind}{suffix}.json"), result)
    print(f"\n{kind} {args.model}: {len(cats)} categories, limit {args.limit}; target "
          f"{ARM_TARGET_SECONDS[kind] / 60:.0f} min for the default prompt set on the full non-live set")  # fmt: skip
    print(f"{'arm':<12}{'prompt set':>12}{'items':>8}{'gen min':>9}{'all_items':>11}")
    for name, a in arms.items():
        print(f"{name:<12}{a['prompt_set']:>12}{a['n_items']:>8}{a['generation_seconds'] / 60:>9.1f}"
              f"{100 * a['summary'].get('all_items', 0):>10.1f}%")  # fmt: skip
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
