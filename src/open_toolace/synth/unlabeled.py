"""Unlabeled queries for self-evolution rounds (`toolace synth queries`): requests from the domains held
apart from the seed set, with no tools and no calls (`tools: []`, `calls: null`). ToolACE-DEV's round
generates candidate tools for each query itself, so these queries must not come with the answer.

    toolace synth queries --config configs/synth.yaml --out data/queries.jsonl --n 2000
    # python
    queries = synthesize_queries(SynthConfig(n=2000))   # list of internal records, calls None

Queries are single requests, several values of one argument (parallel) and two requests at once; they pass
the same hygiene as the seed set (deduplicated, none near a BFCL user turn) and their domain is in meta.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from pathlib import Path

from open_toolace.data.records import make_example
from open_toolace.io import atomic_write_json, write_jsonl
from open_toolace.synth.apis import build_pool
from open_toolace.synth.contamination import bfcl_index
from open_toolace.synth.samples import make_sample
from open_toolace.synth.seed import SynthConfig, sidecar
from open_toolace.synth.stats import diversity_stats
from open_toolace.synth.tree import load_tree, split_domains

QUERY_KINDS = ("single", "parallel", "parallel_multiple")


def synthesize_queries(
    cfg: SynthConfig,
    rejects: list[dict] | None = None,
    labels: dict[str, list[dict]] | None = None,
    catalog: list[dict] | None = None,
) -> list[dict]:
    """`cfg.n` unique unlabeled queries from `cfg.held_out_domains`; dropped ones go to `rejects`.

    The queries never carry their answer. A benchmark that scores what a round keeps passes `labels`, a
    dict this fills with each kept query's synthesized calls by id, and `catalog`, a list this fills with
    the held-out APIs the queries were written from (apis.jsonl rows: the catalog a user with these APIs
    would retrieve from; `bench/round_yield.py`)."""
    _, held = split_domains(load_tree(cfg.tree), list(cfg.held_out_domains))
    if not held:
        raise ValueError("held_out_domains is empty: unlabeled queries come from the held-out domains only")
    pool = build_pool(held, random.Random(f"query-pool:{cfg.seed}"), cfg.variants, cfg.max_ops)
    if catalog is not None:
        catalog.extend(a.row() for a in pool)
    by_domain = defaultdict(list)
    for a in pool:
        by_domain[a.domain].append(a)
    contexts = {d.name: d.context for d in held}
    unknown = set(cfg.query_mix) - set(QUERY_KINDS)
    if unknown or not any(w > 0 for w in cfg.query_mix.values()):
        raise ValueError(f"query_mix needs positive shares of {QUERY_KINDS}, got {cfg.query_mix}")
    kinds, weights = zip(*cfg.query_mix.items(), strict=True)
    index = bfcl_index(cfg.contamination_threshold) if cfg.contamination else None
    rng = random.Random(f"queries:{cfg.seed}")
    out, seen = [], set()
    rejects = rejects if rejects is not None else []
    for attempt in range(int(cfg.n * cfg.max_attempts)):
        if len(out) >= cfg.n:
            break
        kind, api = rng.choices(kinds, weights)[0], rng.choice(pool)
        s = make_sample(kind, api, pool, by_domain, rng, contexts[api.domain])
        if s is None:
            continue
        query = s.messages[-1]["content"]
        if query in seen:
            continue
        seen.add(query)
        meta = {k: s.meta[k] for k in ("template", "domain", "forms")}
        ex = make_example(f"synth-q-{cfg.seed}-{attempt:07d}", [{"role": "user", "content": query}], [], None,
                          source="synth-queries", kind="unlabeled", type=kind, **meta)  # fmt: skip
        if index is not None:
            score, match = index.best(query)
            if score >= index.threshold:
                rejects.append({"reason": "bfcl_contamination", "stage": "contamination", "score": round(score, 3),
                                "bfcl_turn": match, "record": ex})  # fmt: skip
                continue
        out.append(ex)
        if labels is not None:
            labels[ex["id"]] = s.calls
    return out


def run_queries(cfg: SynthConfig, out: str | Path) -> dict:
    """Write the queries (and .rejects.jsonl, .stats.json next to them); return the stats."""
    start = time.perf_counter()
    rejects: list[dict] = []
    queries = synthesize_queries(cfg, rejects)
    stats = diversity_stats(queries, None, rejects)
    stats["held_out_domains"] = sorted({q["meta"]["domain"] for q in queries})
    stats["by_domain"] = dict(Counter(q["meta"]["domain"] for q in queries).most_common())
    stats["seconds"] = round(time.perf_counter() - start, 2)
    write_jsonl(sidecar(out, ".rejects.jsonl"), rejects)
    atomic_write_json(sidecar(out, ".stats.json"), stats)
    write_jsonl(out, queries)
    return stats
