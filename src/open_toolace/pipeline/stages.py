"""Stage machinery of a run directory, and the stages before the rounds (seed data, bootstrap, eval).

A stage is a name in the run's manifest (`seed`, `bootstrap.train`, `r1.vote`, ...). `Ctx.stage(name, fn)`
runs `fn` only if the manifest does not already say the stage is done; `fn` writes its outputs atomically
(open_toolace.io) and returns a small info dict, and only then is the stage marked done. A run killed at
any point therefore redoes at most the stage it was in, and overwrites (never appends to) its files.

Failure injection for the resume tests: `OPEN_TOOLACE_FAIL_AT=<stage>[:<point>][:kill]` raises
`InjectedFailure` (or SIGKILLs the process with `:kill`) when the run reaches that point of that stage;
points are `start` and `before_done` (default: `before_done`, outputs written, marker not).
"""

from __future__ import annotations

import gc
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from open_toolace.io import Manifest, atomic_write_json, read_json, read_jsonl, write_jsonl
from open_toolace.pipeline.config import RunConfig

console = Console(stderr=True, highlight=False)
FAIL_ENV = "OPEN_TOOLACE_FAIL_AT"


class InjectedFailure(RuntimeError):
    """Raised by the failure-injection hook (tests of resume)."""


def fail_point(stage: str, point: str) -> None:
    spec = os.environ.get(FAIL_ENV, "")
    if not spec:
        return
    parts = spec.split(":")
    want_point = parts[1] if len(parts) > 1 and parts[1] else "before_done"
    if parts[0] != stage or want_point != point:
        return
    if parts[-1] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise InjectedFailure(f"injected failure at {stage}:{point}")


@dataclass
class Ctx:
    """What every stage needs: the config, the run dir, its manifest, and the one live generator."""

    cfg: RunConfig
    run_dir: Path
    manifest: Manifest = field(init=False)
    _gen: Any = field(default=None, init=False)
    _gen_key: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.manifest = Manifest.open(self.run_dir)

    def path(self, *parts: str) -> Path:
        return self.run_dir.joinpath(*parts)

    def rel(self, p: str | Path | None) -> str | None:
        return None if p is None else os.path.relpath(p, self.run_dir)

    def stage(self, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if self.manifest.is_done(name):
            console.print(f"[dim]✓ {name} (done)[/dim]")
            return self.manifest.get(name) or {}
        console.print(f"[bold cyan]▶ {name}[/bold cyan]")
        fail_point(name, "start")
        t0 = time.perf_counter()
        info = fn() or {}
        info.setdefault("seconds", round(time.perf_counter() - t0, 2))
        fail_point(name, "before_done")
        self.manifest.mark_done(name, **info)
        return self.manifest.get(name) or {}

    def generator(self, adapter: str | Path | None) -> Any:
        """The generation backend for base model + `adapter`; one at a time (memory), rebuilt on change."""
        key = (self.cfg.backend, self.cfg.model, str(adapter) if adapter else None)
        if self._gen_key != key:
            self._gen = None
            gc.collect()
            from open_toolace.generation import make_generator

            kw = dict(self.cfg.backend_args)
            self._gen = make_generator(self.cfg.backend, self.cfg.model, adapter=key[2], **kw)
            self._gen_key = key
        return self._gen

    def round_generator(self, adapter: str | Path | None) -> Any:
        """The generator a round samples tools and invocations from (a seam tests replace)."""
        return self.generator(adapter)

    def release(self) -> None:
        self._gen, self._gen_key = None, None
        gc.collect()


# ----------------------------------------------------------------------------- seed data


def _load_source(source: str, fmt: str, split: str) -> tuple[list[dict], list[dict]]:
    if source.startswith("hf:"):
        import datasets

        from open_toolace.data.hf import from_hf_row

        ds = datasets.load_dataset(source[3:], split=split)
        return [from_hf_row(row) for row in ds], []
    from open_toolace.data.adapters import read_examples

    examples, rejects = read_examples(source, fmt)
    return examples, [dict(r) for r in rejects]


def _synth(kind: str, overrides: dict[str, Any], seed: int, n: int | None, progress: bool) -> list[dict]:
    """Offline synthesis (open_toolace.synth): labeled seed examples, or unlabeled queries from the
    domains held out of the seed set (so a round's queries are new to the model)."""
    from open_toolace.config import from_dict
    from open_toolace.synth.pipeline import SynthConfig, synthesize
    from open_toolace.synth.unlabeled import synthesize_queries

    data = {"seed": seed, "progress": progress, **({"n": n} if n is not None else {}), **overrides}
    cfg = from_dict(SynthConfig, data)
    return synthesize(cfg) if kind == "seed" else synthesize_queries(cfg)


def stage_seed(ctx: Ctx) -> dict[str, Any]:
    """Labeled seed examples -> seed/examples.jsonl (+ seed/rejects.jsonl)."""
    sd = ctx.cfg.seed_data
    if sd.source == "synth":
        examples, rejects = _synth("seed", sd.synth, ctx.cfg.seed, sd.limit, ctx.cfg.progress), []
    else:
        examples, rejects = _load_source(sd.source, sd.format, sd.split)
    labeled = [ex for ex in examples if ex.get("calls") is not None]
    n_labeled = len(labeled)
    if sd.limit is not None and len(labeled) > sd.limit:
        labeled = random.Random(f"seed:{ctx.cfg.seed}").sample(labeled, sd.limit)
    if not labeled:
        first = (
            f"; first: line {rejects[0].get('line')}: {rejects[0].get('detail') or rejects[0]['reason']}"
            if rejects
            else ""
        )
        raise ValueError(f"seed data {sd.source!r}: no labeled example ({len(rejects)} rejected{first})")
    n = write_jsonl(ctx.path("seed", "examples.jsonl"), labeled)
    write_jsonl(ctx.path("seed", "rejects.jsonl"), rejects)
    return {
        "examples": n,
        "read": len(examples),
        "unlabeled_skipped": len(examples) - n_labeled,
        "rejects": len(rejects),
    }


def stage_queries(ctx: Ctx, n: int) -> dict[str, Any]:
    """The unlabeled query pool for all rounds -> seed/queries.jsonl (rounds take disjoint slices)."""
    sd = ctx.cfg.seed_data
    if sd.queries == "synth":
        pool = _synth("queries", sd.queries_synth, ctx.cfg.seed + 1, n, ctx.cfg.progress)
    else:
        pool, _ = _load_source(sd.queries, sd.format, sd.split)
    seen, out = set(), []
    for ex in pool:  # unlabeled: calls/tools are what the round generates
        from open_toolace.data.records import example_query

        q = example_query(ex).strip()
        if q and q not in seen:
            seen.add(q)
            out.append({**ex, "tools": [], "calls": None})
    if len(out) < n:
        console.print(f"[yellow]warning: only {len(out)} distinct unlabeled queries for {n} wanted[/yellow]")
    write_jsonl(ctx.path("seed", "queries.jsonl"), out)
    return {"queries": len(out), "wanted": n}


# ----------------------------------------------------------------------------- bootstrap + train + eval


def stage_bootstrap_samples(ctx: Ctx) -> dict[str, Any]:
    from open_toolace.tasks import build_mixture

    examples = read_jsonl(ctx.path("seed", "examples.jsonl"))
    tools: list[dict] = []
    if ctx.cfg.seed_data.extra_tools:
        from open_toolace.commands.train import load_tool_docs

        tools = [t.to_dict() for t in load_tool_docs(ctx.cfg.seed_data.extra_tools)]
    mix = replace(ctx.cfg.bootstrap.mix, seed=ctx.cfg.seed)
    report: dict[str, Any] = {}
    samples = build_mixture(examples, mix, tools=tools, report=report)
    n = write_jsonl(ctx.path("bootstrap", "samples.jsonl"), samples)
    atomic_write_json(ctx.path("bootstrap", "samples_report.json"), report)
    return {"samples": n, "tasks": report.get("tasks")}


def train_adapter(
    ctx: Ctx, stage: str, tcfg: Any, samples: Path, out: Path, init_adapter: str | None, seed: int
) -> dict[str, Any]:
    """LoRA training through open_toolace.train (which resumes from its own checkpoints in `out`)."""
    from open_toolace.train import train

    cfg = replace(tcfg, model=ctx.cfg.model, adapter=init_adapter, seed=seed, overwrite=False)
    ctx.release()  # free the generator's model before training
    train(cfg, samples, out, callbacks=_train_fail_callbacks(stage))
    metrics = read_json(out / "train_metrics.json")
    return {
        k: metrics.get(k)
        for k in (
            "global_step",
            "train_loss",
            "first_loss",
            "last_loss",
            "tokens_per_s",
            "wall_s",
            "resumed_from",
        )
    }


def _train_fail_callbacks(stage: str) -> list | None:
    """`OPEN_TOOLACE_FAIL_AT=<stage>:step<N>[:kill]` stops training right after checkpoint N is saved."""
    spec = os.environ.get(FAIL_ENV, "")
    parts = spec.split(":")
    if len(parts) < 2 or parts[0] != stage or not parts[1].startswith("step"):
        return None
    step = int(parts[1][4:])
    from transformers import TrainerCallback

    class Fail(TrainerCallback):
        def on_save(self, args, state, control, **kw):
            if state.global_step == step:
                if parts[-1] == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise InjectedFailure(f"injected failure at {spec}")

    return [Fail()]


def eval_scores(ctx: Ctx, name: str, adapter: str | None) -> dict[str, Any]:
    """BFCL on the fixed subset for base model + adapter -> eval/<name>/ (evaluate's run dir)."""
    from open_toolace.evaluate import evaluate_bfcl

    e = ctx.cfg.eval
    gen = ctx.generator(ctx.path(adapter) if adapter else None)
    scores = evaluate_bfcl(
        gen,
        e.categories,
        e.limit,
        ctx.path("eval", name),
        save_every=e.save_every,
        max_new_tokens=e.max_new_tokens,
        seed=ctx.cfg.seed,
        progress=ctx.cfg.progress,
        meta={
            "model": ctx.cfg.model,
            "adapter": adapter,
            "backend": ctx.cfg.backend,
            "dtype": ctx.cfg.backend_args.get("dtype", "auto"),
        },
    )
    return {"overall": headline(scores), "n_items": scores.get("n_items")}


def headline(scores: dict[str, Any]) -> float | None:
    """The one number a round is judged by: BFCL overall over what was run (else the micro-average)."""
    s = scores.get("summary", {})
    for key in ("overall", "all_items"):
        if key in s:
            return s[key]["accuracy"]
    return None
