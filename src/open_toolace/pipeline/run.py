"""The end-to-end ToolACE-DEV run, top to bottom: seed data -> bootstrap LoRA -> BFCL -> N self-evolution
rounds, BFCL after each -> report. Resumable: killed at any point, the same call picks up where it stopped.

    toolace run configs/demo.yaml                          # -> runs/demo/
    toolace run configs/demo.yaml evolve.rounds=3          # extend a finished run by a round
    toolace report runs/demo                               # re-render runs/demo/report.md

    from open_toolace.pipeline.run import RunConfig, run
    run(RunConfig(model="tiny-random"), run_dir="runs/smoke")

Run directory (docs/run.md): config.yaml, manifest.json, seed/, bootstrap/, rounds/r<r>/, eval/<stage>/,
report.md, accuracy.png. The stage machinery is in `manifest.py`, one file per stage beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from open_toolace import generation
from open_toolace.config import check_saved_config, save_config
from open_toolace.hardware import apply_threads, machine_info, machine_line, resolve_dtype
from open_toolace.io import Manifest, dir_lock
from open_toolace.pipeline.bootstrap import bootstrap_samples, train_adapter
from open_toolace.pipeline.config import RESUME_FREE, RunConfig
from open_toolace.pipeline.eval import eval_stage
from open_toolace.pipeline.fork import fork_bootstrap
from open_toolace.pipeline.manifest import Ctx, Generators, MakeGenerator, NoHooks, StageHooks, console
from open_toolace.pipeline.report import write_run_report
from open_toolace.pipeline.rounds import run_round
from open_toolace.pipeline.seed import query_pool, seed_examples
from open_toolace.pipeline.toolace_r import SFT_ADAPTER, STAGE, toolace_r_stage

__all__ = ["RunConfig", "check_resume", "run", "run_dir_of"]


def run_dir_of(cfg: RunConfig) -> Path:
    return Path(cfg.out_root) / cfg.name


def run(
    cfg: RunConfig,
    *,
    run_dir: str | Path | None = None,
    make_generator: MakeGenerator = generation.make_generator,
    hooks: StageHooks | None = None,
) -> dict[str, Any]:
    """Run (or resume) every stage; returns `{stage: headline BFCL}` for base, bootstrap and each round.

    `make_generator(backend, model, adapter=None, **backend_args)` builds the generation backend (tests pass
    a scripted one); `hooks` sees every stage start and finish (the resume tests kill the run there).
    """
    run_dir = Path(run_dir) if run_dir is not None else run_dir_of(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    with dir_lock(run_dir):  # a second `toolace run` on this directory stops here with a clear error
        return _run(cfg, run_dir, make_generator, hooks)


def _run(
    cfg: RunConfig, run_dir: Path, make_generator: MakeGenerator, hooks: StageHooks | None
) -> dict[str, Any]:
    check_resume(cfg, run_dir)
    save_config(cfg, run_dir / "config.yaml")
    threads = apply_threads(cfg.threads)  # once, before any work: `auto` reads the machine's load now
    gens = Generators(make_generator, cfg.backend, cfg.model, dict(cfg.backend_args))
    ctx = Ctx(run_dir, Manifest.open(run_dir), gens, hooks or NoHooks(), threads=cfg.threads)
    ev = cfg.evolve
    console.rule(f"toolace run · {run_dir} · {cfg.model} · {ev.rounds} round(s)")
    console.print(f"[dim]{machine_line(machine_info(resolve_dtype(cfg.backend_args.get('dtype'))))} "
                  f"(generation dtype; torch threads {threads})[/dim]")  # fmt: skip

    # With bootstrap_from, the seed data, query pool and bootstrap (+ its BFCL) are another run's, copied.
    fork_bootstrap(cfg, ctx)
    # Seed data, and one pool of unlabeled queries for every round (grown when rounds are added).
    ctx.stage("seed", lambda: seed_examples(cfg, ctx))
    want = ev.rounds * ev.queries_per_round
    done = ctx.manifest.get("queries")
    if want and done and done.get("wanted", 0) < want:
        ctx.manifest.mark_done("queries", **query_pool(cfg, ctx, want))
    elif want:
        ctx.stage("queries", lambda: query_pool(cfg, ctx, want))

    # Stages 1+2: the untrained model's score, the sub-task mixture, the bootstrap adapter and its score
    # (method toolace-r: then, or instead of SFT, ToolACE-R's iterative training; its adapter is the bootstrap's).
    if cfg.eval.base:
        ctx.stage("eval.base", lambda: eval_stage(cfg, ctx, "base", None))
    ctx.stage("bootstrap.samples", lambda: bootstrap_samples(cfg, ctx))
    boot, toolace_r = SFT_ADAPTER, cfg.bootstrap.method == "toolace-r"
    if not toolace_r or cfg.bootstrap.sft_first:
        ctx.stage("bootstrap.train", lambda: {**_train_bootstrap(cfg, ctx), "adapter": SFT_ADAPTER})
    if toolace_r:
        boot = ctx.stage(STAGE, lambda: toolace_r_stage(cfg, ctx))["adapter"]
    ctx.stage("eval.bootstrap", lambda: eval_stage(cfg, ctx, "bootstrap", boot))

    # Stage 3: self-evolution, each round from the previous round's adapter.
    adapter, prev_eval = boot, "bootstrap"
    for r in range(1, ev.rounds + 1):
        console.rule(f"round {r}/{ev.rounds}")
        adapter = run_round(cfg, ctx, r, adapter, prev_eval)
        prev_eval = f"r{r}"
    gens.release()

    report = write_run_report(run_dir)
    console.print(f"[bold green]done[/bold green] · report: {report}")
    stages = ["base"] * cfg.eval.base + ["bootstrap"] + [f"r{r}" for r in range(1, ev.rounds + 1)]
    return {s: (ctx.manifest.get(f"eval.{s}") or {}).get("overall") for s in stages}


def _train_bootstrap(cfg: RunConfig, ctx: Ctx) -> dict[str, Any]:
    return train_adapter(
        ctx,
        "bootstrap.train",
        cfg.bootstrap.train,
        model=cfg.model,
        samples=ctx.path("bootstrap", "samples.jsonl"),
        out=ctx.path("bootstrap", "adapter"),
        init_adapter=None,
        seed=cfg.seed,
        prompt_set=cfg.bootstrap.mix.prompt_set,
    )


def check_resume(cfg: RunConfig, run_dir: Path) -> None:
    """A run dir holding another config is refused (its finished stages would not match), except for the
    settings in RESUME_FREE (e.g. `evolve.rounds`, to extend a run) and for a setting added to RunConfig
    after the run started that is left at its default (the run did what that default does)."""
    check_saved_config(
        run_dir / "config.yaml", cfg, RESUME_FREE, new_at_default=True,
        refused=f"{run_dir} was started with another config",
        hint="Resume with the same config, or start a new run (name=...).",
    )  # fmt: skip
