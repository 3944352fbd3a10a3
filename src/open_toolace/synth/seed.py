"""Seed-data synthesis, end to end: tree -> API pool -> samples -> rule checks -> dedupe -> BFCL hygiene
-> (optional) complexity band -> internal JSONL + rejects + stats. Offline by default (seconds, no
network, deterministic under `seed`); `mode: teacher` runs the same stages through an LLM (teacher.py).

    toolace synth seed --config configs/synth.yaml --out data/seed.jsonl n=6000
    # python
    from open_toolace.synth.seed import SynthConfig, synthesize
    examples = synthesize(SynthConfig(n=500))

Next to OUT it writes OUT_STEM.rejects.jsonl (every dropped sample with its reasons), .stats.json
(diversity statistics), .apis.jsonl (the API pool) and .config.yaml (the resolved config).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from open_toolace.config import save_config, to_dict
from open_toolace.data.records import make_example
from open_toolace.io import atomic_write_json, write_jsonl
from open_toolace.synth.apis import build_pool
from open_toolace.synth.contamination import bfcl_index, check_example
from open_toolace.synth.samples import TYPES, make_sample
from open_toolace.synth.stats import diversity_stats, format_stats
from open_toolace.synth.teacher import TeacherConfig
from open_toolace.synth.tree import load_tree, split_domains
from open_toolace.synth.verify import reject, verify_example, verify_tools

# Domains the seed set never sees; unlabeled queries (self-evolution rounds) come from them. Services and,
# from tree_compute.yaml, calculators and a look-up, so rounds also meet computations the seed did not teach.
HELD_OUT = [
    "Astronomy",
    "Nonprofit",
    "Gaming",
    "Podcasts",
    "Utilities",
    "Government",
    "Translation",
    "Insurance",
    "Chemistry",
    "Probability",
    "Periodic Table",
    "Text Tools",
]
DEFAULT_MIX = {"single": 0.2, "multiple": 0.25, "parallel": 0.15, "parallel_multiple": 0.15, "irrelevance": 0.12,
               "multi_turn": 0.13}  # fmt: skip


@dataclass
class ComplexityConfig:
    model: str | None = field(default=None, metadata={"help": "target model spec whose loss is the difficulty "
                                                       "(tiny-random, embedded:smollm2-135m, a path); null = off"})  # fmt: skip
    low: float | None = field(default=None, metadata={"help": "drop samples with loss below this (too easy)"})
    high: float | None = field(
        default=None, metadata={"help": "drop samples with loss above this (too hard)"}
    )
    quantiles: bool = field(
        default=False, metadata={"help": "low/high are quantiles of the losses, not losses"}
    )
    batch_size: int = field(default=8, metadata={"help": "scoring batch size"})
    max_length: int = field(
        default=1024, metadata={"help": "tokens per scored sequence (prompt cut from the left)"}
    )
    device: str = field(default="cpu", metadata={"help": "cpu, cuda or auto"})


@dataclass
class SynthConfig:
    seed: int = field(default=0, metadata={"help": "everything is a function of the seed"})
    n: int = field(default=6000, metadata={"help": "samples to keep (after checks and dedupe)"})
    mode: str = field(
        default="offline", metadata={"help": "offline (templates, no network) or teacher (an LLM)"}
    )
    mix: dict = field(
        default_factory=lambda: dict(DEFAULT_MIX), metadata={"help": f"sample type -> share; types {TYPES}"}
    )
    query_mix: dict = field(
        default_factory=lambda: {"single": 0.55, "parallel": 0.2, "parallel_multiple": 0.25},
        metadata={"help": "unlabeled query kind -> share (`toolace synth queries`): single, parallel "
                  "(several values of one argument), parallel_multiple (two requests)"},
    )  # fmt: skip
    tree: str | None = field(default=None, metadata={"help": "domain tree YAML (default: the packaged one)"})
    held_out_domains: list = field(default_factory=lambda: list(HELD_OUT),
                                   metadata={"help": "domains kept out of the seed set (unlabeled queries use them)"})  # fmt: skip
    variants: int = field(default=2, metadata={"help": "evolved variants of each tree API in the pool (1-3)"})
    max_ops: int = field(default=3, metadata={"help": "most evolution operators applied to one variant"})
    grounding: str = field(
        default="lenient", metadata={"help": "checks.check_calls grounding: off|lenient|strict"}
    )
    derive: bool = field(
        default=True, metadata={"help": "also require every value to be derivable from the query"}
    )
    contamination: bool = field(default=True, metadata={"help": "drop samples overlapping BFCL user turns"})
    contamination_threshold: float = field(
        default=0.7, metadata={"help": "word-Jaccard threshold against BFCL"}
    )
    max_attempts: float = field(default=3.0, metadata={"help": "give up after n * this many draws"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})
    complexity: ComplexityConfig = field(default_factory=ComplexityConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)


@dataclass
class SynthResult:
    examples: list[dict]
    rejects: list[dict]
    pool: list[dict]  # {"tool", "domain", "ops"} rows
    counts: Counter
    seconds: float = 0.0

    def stats(self) -> dict:
        s = diversity_stats(self.examples, [p["tool"] for p in self.pool], self.rejects)
        s["base_apis"] = len({p.get("base", p["tool"]["name"]) for p in self.pool})
        s["pool_domains"] = len({p["domain"] for p in self.pool})
        s["draws_not_applicable"] = self.counts["not_applicable"]
        s["duplicates_redrawn"] = self.counts["duplicates"]
        s["seconds"] = round(self.seconds, 2)
        return s


def _check_mix(mix: dict, allowed: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    unknown = sorted(set(mix) - set(allowed))
    if unknown or not any(float(w) > 0 for w in mix.values()):
        raise ValueError(f"mix: unknown type(s) {unknown} or no positive share; types: {allowed}")
    kinds, weights = zip(*[(k, float(w)) for k, w in mix.items() if float(w) > 0], strict=True)
    return kinds, weights


def synthesize_offline(cfg: SynthConfig) -> SynthResult:
    from tqdm.auto import tqdm

    start = time.perf_counter()
    seed_domains, _ = split_domains(load_tree(cfg.tree), list(cfg.held_out_domains))
    pool = build_pool(seed_domains, random.Random(f"pool:{cfg.seed}"), cfg.variants, cfg.max_ops)
    rejects: list[dict] = []
    bad = verify_tools([a.tool() for a in pool])
    for a in pool:
        if a.name in bad:
            rejects.append(reject(a.tool(), bad[a.name], "api"))
    pool = [a for a in pool if a.name not in bad]
    by_domain = defaultdict(list)
    for a in pool:
        by_domain[a.domain].append(a)
    contexts = {d.name: d.context for d in seed_domains}
    kinds, weights = _check_mix(cfg.mix, TYPES)
    index = bfcl_index(cfg.contamination_threshold) if cfg.contamination else None
    rng = random.Random(f"samples:{cfg.seed}")
    examples, seen, counts = [], set(), Counter()
    bar = tqdm(total=cfg.n, desc="synth seed", disable=not cfg.progress, mininterval=1.0)
    for attempt in range(int(cfg.n * cfg.max_attempts)):
        if len(examples) >= cfg.n:
            break
        kind, api = rng.choices(kinds, weights)[0], rng.choice(pool)
        s = make_sample(kind, api, pool, by_domain, rng, contexts[api.domain])
        if s is None:
            counts["not_applicable"] += 1
            continue
        ex = make_example(f"synth-{cfg.seed}-{attempt:07d}", s.messages, s.tools, s.calls, source="synth",
                          mode="offline", kind="call" if s.calls else "no_call", type=kind, **s.meta)  # fmt: skip
        reasons = verify_example(ex, cfg.grounding, cfg.derive)
        if reasons:
            rejects.append(reject(ex, reasons, "rule"))
            continue
        key = "\n".join(m["content"] for m in ex["messages"])
        if key in seen:
            counts["duplicates"] += 1
            continue
        seen.add(key)
        if index is not None:
            score, match = check_example(ex, index)
            if score >= index.threshold:
                rejects.append({"reason": "bfcl_contamination", "stage": "contamination", "score": round(score, 3),
                                "bfcl_turn": match, "record": ex})  # fmt: skip
                continue
        examples.append(ex)
        bar.update(1)
    bar.close()
    rows = [a.row() for a in pool]
    return SynthResult(examples, rejects, rows, counts, time.perf_counter() - start)


def synthesize_teacher(cfg: SynthConfig, generator: object | None = None) -> SynthResult:
    from open_toolace.synth.contamination import drop_contaminated
    from open_toolace.synth.teacher import make_teacher, teacher_synthesize

    start = time.perf_counter()
    seed_domains, _ = split_domains(load_tree(cfg.tree), list(cfg.held_out_domains))
    gen = generator if generator is not None else make_teacher(cfg.teacher)
    examples, rejects, apis = teacher_synthesize(gen, seed_domains, cfg.teacher, cfg.seed)
    counts: Counter = Counter()
    unique, seen = [], set()
    for ex in examples:
        key = "\n".join(m["content"] for m in ex["messages"])
        if key in seen:
            counts["duplicates"] += 1
            continue
        seen.add(key)
        unique.append(ex)
    if cfg.contamination:
        unique, dropped = drop_contaminated(unique, bfcl_index(cfg.contamination_threshold))
        rejects += dropped
    return SynthResult(unique[: cfg.n], rejects, apis, counts, time.perf_counter() - start)


def apply_complexity(result: SynthResult, cfg: ComplexityConfig, progress: bool = True) -> SynthResult:
    """Keep the samples whose target-model loss lies in the band (no-op without a model)."""
    if not cfg.model or not result.examples:
        return result
    from open_toolace.synth.complexity import completion_nll, complexity_filter

    losses = completion_nll(result.examples, cfg.model, batch_size=cfg.batch_size, max_length=cfg.max_length,
                            device=cfg.device, progress=progress)  # fmt: skip
    kept, dropped = complexity_filter(result.examples, losses, cfg.low, cfg.high, cfg.quantiles)
    result.examples, result.rejects = kept, result.rejects + dropped
    return result


def synthesize_result(cfg: SynthConfig, generator: object | None = None) -> SynthResult:
    if cfg.mode not in ("offline", "teacher"):
        raise ValueError(f"mode must be 'offline' or 'teacher', got {cfg.mode!r}")
    result = synthesize_offline(cfg) if cfg.mode == "offline" else synthesize_teacher(cfg, generator)
    return apply_complexity(result, cfg.complexity, cfg.progress)


def synthesize(cfg: SynthConfig) -> list[dict]:
    """The architecture contract: config -> seed examples (internal records)."""
    return synthesize_result(cfg).examples


def sidecar(out: str | Path, suffix: str) -> Path:
    """`data/seed.jsonl` + `.rejects.jsonl` -> `data/seed.rejects.jsonl`."""
    p = Path(out)
    return p.with_name(p.name.removesuffix(".jsonl") + suffix)


def config_hash(cfg: object) -> str:
    return hashlib.sha256(json.dumps(to_dict(cfg), sort_keys=True, default=str).encode()).hexdigest()[:16]


def write_result(result: SynthResult, out: str | Path, cfg: object) -> dict:
    """Write examples, rejects, pool, stats and config next to each other (each atomically); return stats."""
    stats = {**result.stats(), "config_hash": config_hash(cfg)}
    Path(out).unlink(missing_ok=True)  # no stale OUT beside new sidecars if this is killed half-way
    write_jsonl(sidecar(out, ".rejects.jsonl"), result.rejects)
    write_jsonl(sidecar(out, ".apis.jsonl"), result.pool)
    atomic_write_json(sidecar(out, ".stats.json"), stats)
    save_config(cfg, sidecar(out, ".config.yaml"))
    write_jsonl(out, result.examples)  # last: its presence means the others are there too
    return stats


def run_synthesis(
    cfg: SynthConfig, out: str | Path, force: bool = False, generator: object | None = None
) -> dict:
    """Synthesize and write; skipped (stats returned) when OUT was already made with the same config.

    The stats sidecar is the stage's record: it is written before OUT and holds the config hash, so a run
    killed half-way leaves no OUT (or an OUT from an older config) and is redone."""
    out, h = Path(out), config_hash(cfg)
    stats_path = sidecar(out, ".stats.json")
    if not force and out.exists() and stats_path.exists():
        try:
            old = json.loads(stats_path.read_text())
        except json.JSONDecodeError:
            old = {}
        if old.get("config_hash") == h:
            return {**old, "skipped": True}
    return write_result(synthesize_result(cfg, generator), out, cfg)


__all__ = ["ComplexityConfig", "SynthConfig", "SynthResult", "format_stats", "run_synthesis", "synthesize"]
