"""The data a run starts from: labeled seed examples (`seed/examples.jsonl`) and the unlabeled query pool the
rounds take their queries from (`seed/queries.jsonl`). Either is synthesized offline (open_toolace.synth) or
read from a file / a Hugging Face dataset in any format `data.read_examples` knows (queries also from a
plain query log: `data.queries`). Beside the examples, `seed/apis.jsonl` keeps the seed's API pool when the
run has one (the synthesizer's, or a seed file's `.apis.jsonl` sidecar): with the seed examples' own tools
it is the default tool catalog of `evolve.tool_source: retrieve`."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from open_toolace.config import from_dict
from open_toolace.data.adapters import read_examples
from open_toolace.data.queries import read_queries, unlabeled_pool
from open_toolace.io import read_jsonl, write_jsonl
from open_toolace.pipeline.config import RunConfig
from open_toolace.pipeline.manifest import Ctx, console
from open_toolace.synth.seed import SynthConfig, sidecar, synthesize_result
from open_toolace.synth.unlabeled import synthesize_queries


def _load_source(source: str, fmt: str, split: str) -> tuple[list[dict], list[dict]]:
    if source.startswith("hf:"):
        import datasets

        from open_toolace.data.hf import from_hf_row

        ds = datasets.load_dataset(source[3:], split=split)
        return [from_hf_row(row) for row in ds], []
    examples, rejects = read_examples(source, fmt)
    return examples, [dict(r) for r in rejects]


def _synth(
    kind: str,
    overrides: dict[str, Any],
    seed: int,
    n: int | None,
    progress: bool,
    labels: dict[str, list[dict]] | None = None,
    catalog: list[dict] | None = None,
) -> tuple[list[dict], list[dict]]:
    """Offline synthesis: labeled seed examples and their API pool, or unlabeled queries from the domains
    held out of the seed set (so a round's queries are new to the model; no pool). For queries, `labels`
    and `catalog` (when given) receive their synthesized calls by id and the held-out APIs they were
    written from, apart from the queries (`synthesize_queries`)."""
    data = {"seed": seed, "progress": progress, **({"n": n} if n is not None else {}), **overrides}
    cfg = from_dict(SynthConfig, data)
    if kind == "seed":
        result = synthesize_result(cfg)
        return result.examples, list(result.pool)
    return synthesize_queries(cfg, labels=labels, catalog=catalog), []


def seed_examples(cfg: RunConfig, ctx: Ctx) -> dict[str, Any]:
    """Labeled seed examples -> seed/examples.jsonl (+ seed/rejects.jsonl)."""
    sd = cfg.seed_data
    apis: list[dict] = []
    if sd.source == "synth":
        (examples, apis), rejects = _synth("seed", sd.synth, cfg.seed, sd.limit, cfg.progress), []
    else:
        examples, rejects = _load_source(sd.source, sd.format, sd.split)
        pool_file = sidecar(sd.source, ".apis.jsonl")  # `toolace synth seed --out F` writes F's API pool
        if not sd.source.startswith("hf:") and pool_file != Path(sd.source) and pool_file.is_file():
            apis = read_jsonl(pool_file)
    labeled = [ex for ex in examples if ex.get("calls") is not None]
    n_labeled = len(labeled)
    if sd.limit is not None and len(labeled) > sd.limit:
        labeled = random.Random(f"seed:{cfg.seed}").sample(labeled, sd.limit)
    if not labeled:
        first = (
            f"; first: line {rejects[0].get('line')}: {rejects[0].get('detail') or rejects[0]['reason']}"
            if rejects
            else ""
        )
        raise ValueError(f"seed data {sd.source!r}: no labeled example ({len(rejects)} rejected{first})")
    n = write_jsonl(ctx.path("seed", "examples.jsonl"), labeled)
    write_jsonl(ctx.path("seed", "rejects.jsonl"), rejects)
    if apis:
        write_jsonl(ctx.path("seed", "apis.jsonl"), apis)
    return {
        "examples": n,
        "apis": len(apis),
        "read": len(examples),
        "unlabeled_skipped": len(examples) - n_labeled,
        "rejects": len(rejects),
    }


def query_pool(cfg: RunConfig, ctx: Ctx, n: int) -> dict[str, Any]:
    """The unlabeled query pool for all rounds -> seed/queries.jsonl (rounds take disjoint slices)."""
    sd = cfg.seed_data
    if sd.queries == "synth":
        pool, _ = _synth("queries", sd.queries_synth, cfg.seed + 1, n, cfg.progress)
    elif sd.queries.startswith("hf:"):
        pool, _ = _load_source(sd.queries, sd.format, sd.split)
    else:  # a file of examples in any format, or a plain query log
        pool, _ = read_queries(sd.queries, sd.format)
    out = unlabeled_pool(pool)  # unlabeled: calls/tools are what the round generates
    if len(out) < n:
        console.print(f"[yellow]warning: only {len(out)} distinct unlabeled queries for {n} wanted[/yellow]")
    write_jsonl(ctx.path("seed", "queries.jsonl"), out)
    return {"queries": len(out), "wanted": n}
