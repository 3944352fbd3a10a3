"""The end-to-end ToolACE-DEV run: seed data -> stage 1+2 bootstrap LoRA -> BFCL -> N self-evolution rounds,
BFCL after each -> report. Resumable: killed at any point, the same command picks up where it stopped.

    toolace run configs/demo.yaml                          # -> runs/demo/
    toolace run configs/demo.yaml evolve.rounds=3          # extend a finished run by a round
    toolace report runs/demo                               # re-render runs/demo/report.md

    from open_toolace.run import RunConfig, run
    run(RunConfig(model="tiny-random"), "runs/smoke")

Run directory (docs/run.md): config.yaml, manifest.json, seed/, bootstrap/, rounds/r<r>/, eval/<stage>/,
report.md, accuracy.png. Stages and the resume rule are in open_toolace.pipeline.stages; a round's files
in open_toolace.pipeline.rounds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from open_toolace.config import ConfigError, save_config, to_dict
from open_toolace.pipeline.config import RESUME_FREE, RunConfig
from open_toolace.pipeline.rounds import run_round
from open_toolace.pipeline.stages import (
    Ctx,
    console,
    eval_scores,
    stage_bootstrap_samples,
    stage_queries,
    stage_seed,
    train_adapter,
)

__all__ = ["RunConfig", "check_resume", "run", "run_dir_of"]


def run_dir_of(cfg: RunConfig) -> Path:
    return Path(cfg.out_root) / cfg.name


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_resume(cfg: RunConfig, run_dir: Path) -> None:
    """A run dir holding another config is refused (its finished stages would not match), except for the
    settings in RESUME_FREE (e.g. `evolve.rounds`, to extend a run)."""
    saved = run_dir / "config.yaml"
    if not saved.exists():
        return
    old, new = _flat(yaml.safe_load(saved.read_text()) or {}), _flat(to_dict(cfg))
    diff = {
        k: (old.get(k), new.get(k))
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k) and not any(k == f or k.startswith(f + ".") for f in RESUME_FREE)
    }
    if diff:
        lines = "\n".join(f"  {k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
        raise ConfigError(
            f"{run_dir} was started with another config; changed settings:\n{lines}\n"
            "Resume with the same config, or start a new run (name=...)."
        )


def run(cfg: RunConfig, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Run (or resume) every stage; returns `{stage: headline BFCL}` for base, bootstrap and each round."""
    from open_toolace.report_run import write_run_report

    run_dir = Path(run_dir) if run_dir is not None else run_dir_of(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_resume(cfg, run_dir)
    save_config(cfg, run_dir / "config.yaml")
    ctx = Ctx(cfg, run_dir)
    ev = cfg.evolve
    console.rule(f"toolace run · {run_dir} · {cfg.model} · {ev.rounds} round(s)")

    ctx.stage("seed", lambda: stage_seed(ctx))
    want = ev.rounds * ev.queries_per_round
    done = ctx.manifest.get("queries")
    if want and done and done.get("wanted", 0) < want:  # rounds were added: a larger pool
        ctx.manifest.mark_done("queries", **stage_queries(ctx, want))
    elif want:
        ctx.stage("queries", lambda: stage_queries(ctx, want))

    if cfg.eval.base:
        ctx.stage("eval.base", lambda: eval_scores(ctx, "base", None))
    ctx.stage("bootstrap.samples", lambda: stage_bootstrap_samples(ctx))
    ctx.stage(
        "bootstrap.train",
        lambda: {
            **train_adapter(
                ctx,
                "bootstrap.train",
                cfg.bootstrap.train,
                ctx.path("bootstrap", "samples.jsonl"),
                ctx.path("bootstrap", "adapter"),
                None,
                cfg.seed,
            ),
            "adapter": "bootstrap/adapter",
        },
    )
    ctx.stage("eval.bootstrap", lambda: eval_scores(ctx, "bootstrap", "bootstrap/adapter"))

    adapter, prev_eval = "bootstrap/adapter", "bootstrap"
    for r in range(1, ev.rounds + 1):
        console.rule(f"round {r}/{ev.rounds}")
        adapter = run_round(ctx, r, adapter, prev_eval)
        prev_eval = f"r{r}"
    ctx.release()

    report = write_run_report(run_dir)
    console.print(f"[bold green]done[/bold green] · report: {report}")
    stages = ["base"] * cfg.eval.base + ["bootstrap"] + [f"r{r}" for r in range(1, ev.rounds + 1)]
    return {s: (ctx.manifest.get(f"eval.{s}") or {}).get("overall") for s in stages}
