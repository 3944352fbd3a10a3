"""Benchmark: the share of held-out queries for which a trained adapter writes a valid tool (a round's tool stage).

A self-evolution round starts by asking the model for the tool(s) a fresh query needs; a query whose output
does not parse into a valid tool is lost before the vote. This runs that stage alone, for each adapter, on
the same held-out queries: the run config's unlabeled query pool (offline synthesis with seed + 1: domains
held out of the seed set), its `evolve.m`, and its tool-sampling settings. Each adapter is prompted in the
prompt set saved with it (`prompt_format.json`), as a round would.

    .venv/bin/python bench/tool_writing.py json=runs/A/bootstrap/adapter lean=runs/B/bootstrap/adapter
    .venv/bin/python bench/tool_writing.py ARM=ADAPTER --config configs/cpu.yaml --queries 200

Writes bench/results/tool_writing.json (per arm: valid / queries, rejections by reason, repairs in the kept
tools, seconds) and the kept / rejected tools under --out.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

_BENCH = str(Path(__file__).resolve().parent)
if _BENCH not in sys.path:  # a test that loads this file by path has no bench/ on sys.path
    sys.path.append(_BENCH)

from _results import machine, stamp  # noqa: E402


def parse_arms(specs: list[str]) -> dict[str, str]:
    arms = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"bad arm {spec!r}; use NAME=ADAPTER_DIR")
        arms[name] = path
    return arms


def tool_stage(
    gen: Any, queries: list[dict], m: int, sampling: Any, prompts: str, out_dir: Path, progress: bool = True
) -> dict[str, Any]:
    """A round's tool stage alone: `m` tools per query, kept / rejected tools written to `out_dir`; returns
    queries, valid, share, rejections by reason and the repairs found in the kept tools."""
    from open_toolace.evolve.sample import generate_tools
    from open_toolace.io import write_jsonl

    kept, rejected = generate_tools(gen, queries, m, sampling, progress=progress, prompts=prompts)
    write_jsonl(Path(out_dir) / "tools_kept.jsonl", kept)
    write_jsonl(Path(out_dir) / "tools_rejected.jsonl", rejected)
    return tool_summary(len(queries), kept, rejected)


def tool_summary(n_queries: int, kept: list[dict], rejected: list[dict]) -> dict[str, Any]:
    """What `tool_stage` returns, from its kept and rejected items."""
    problems = Counter(p.get("reason", "?") for it in kept for p in it["meta"].get("tool_problems") or [])
    return {
        "queries": n_queries,
        "valid": len(kept),
        "share": round(len(kept) / max(1, n_queries), 4),
        "rejected": dict(Counter(r["reason"] for r in rejected).most_common()),
        "tool_problems_in_kept": dict(problems.most_common()),
        # with evolve.tool_samples > 1: how many of a query's sampled lists were valid (the query kept one)
        "valid_samples": dict(
            sorted(
                Counter(it["meta"]["tool_pick"]["valid"] for it in kept if "tool_pick" in it["meta"]).items()
            )
        ),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("arms", nargs="+", help="NAME=ADAPTER_DIR, one per arm")
    ap.add_argument("--config", default="configs/cpu.yaml", help="run config: queries, model, round sampling")
    ap.add_argument("--queries", type=int, default=200, help="held-out queries per arm")
    ap.add_argument("--out", default="runs/bench/tool-writing")
    ap.add_argument("--json", default="bench/results/tool_writing.json")
    args = ap.parse_args(argv)

    from open_toolace.config import load_config
    from open_toolace.generation import make_generator
    from open_toolace.hardware import apply_threads
    from open_toolace.io import Manifest, atomic_write_json, read_jsonl
    from open_toolace.pipeline.config import RunConfig
    from open_toolace.pipeline.manifest import Ctx, Generators, NoHooks
    from open_toolace.pipeline.seed import query_pool
    from open_toolace.prompts import resolve_prompt_set

    arms = parse_arms(args.arms)
    cfg = load_config(RunConfig, args.config, [])
    threads = apply_threads(cfg.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # The query pool is a run stage; it generates nothing, so its generators are never started.
    gens = Generators(make_generator, cfg.backend, cfg.model, dict(cfg.backend_args))
    ctx = Ctx(out, Manifest.open(out), gens, NoHooks())
    ctx.stage("queries", lambda: query_pool(cfg, ctx, args.queries))
    queries = read_jsonl(ctx.path("seed", "queries.jsonl"))[: args.queries]
    ev = cfg.evolve
    sampling = ev.tool_sampling(cfg.seed)
    results: dict[str, Any] = {}
    for name, adapter in arms.items():
        prompt_set = resolve_prompt_set(None, adapter)
        gen = make_generator(cfg.backend, cfg.model, adapter=adapter, **dict(cfg.backend_args))
        t0 = time.perf_counter()
        stats = tool_stage(gen, queries, ev.m, sampling, prompt_set, out / name, progress=cfg.progress)
        results[name] = {
            "adapter": adapter,
            "prompt_set": prompt_set,
            **stats,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        del gen
    result = {
        "config": args.config,
        "model": cfg.model,
        "m": ev.m,
        "sampling": sampling.astuple(),
        "arms": results,
        "machine": machine(cfg.backend_args.get("dtype", "auto"), torch_threads=threads),
        **stamp("tool_writing.py", argv),
    }
    atomic_write_json(args.json, result)
    print(f"{'arm':<12}{'prompt set':>12}{'valid':>12}{'seconds':>10}  rejected")
    for name, r in results.items():
        print(
            f"{name:<12}{r['prompt_set']:>12}{r['valid']:>6}/{r['queries']:<5}{r['seconds']:>10}  {r['rejected']}"
        )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
