"""Start a run from another run's bootstrap (`bootstrap_from`): round ablations that share one bootstrap.

A round lever (vote size, replay share, tool source, ...) is measured by running the rounds from the same
bootstrap adapter, evaluated on the same items. Training and evaluating that bootstrap is most of a run's
time (on 2 CPU cores ~26 + 15 of ~130 minutes), so a run with `bootstrap_from: runs/cpu` copies the source
run's seed data, query pool, bootstrap adapter and bootstrap BFCL instead of making them again.

It is refused unless the source's saved config equals this one in every setting that made those stages
(`SHARED`: model, seed, backend and its dtype, seed_data, bootstrap, eval) and the source finished them.
The copy is resumable: each directory is copied to a temporary name and renamed, and the stages are marked
done (with `copied_from`) only after all of them are in place; a kill before that copies again.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from open_toolace.config import ConfigError, check_saved_config
from open_toolace.io import Manifest
from open_toolace.pipeline.config import RunConfig
from open_toolace.pipeline.manifest import Ctx, console
from open_toolace.pipeline.toolace_r import STAGE as TOOLACE_R_STAGE

# The sections whose settings decide the seed data, the query pool, the bootstrap adapter and its BFCL.
SHARED = ("model", "seed", "backend", "backend_args", "seed_data", "bootstrap", "eval")
DIRS = ("seed", "bootstrap", "eval/base", "eval/bootstrap")


def bootstrap_stages(cfg: RunConfig) -> list[str]:
    """The stages before the first round that `cfg` runs and a fork needs from its source (the query pool,
    `queries`, is copied when the source has one and made by the run when not)."""
    boot = cfg.bootstrap
    stages = ["seed"] + ["eval.base"] * bool(cfg.eval.base) + ["bootstrap.samples"]
    if boot.method != "toolace-r" or boot.sft_first:
        stages.append("bootstrap.train")
    if boot.method == "toolace-r":
        stages.append(TOOLACE_R_STAGE)
    return [*stages, "eval.bootstrap"]


def fork_bootstrap(cfg: RunConfig, ctx: Ctx) -> None:
    """Copy `cfg.bootstrap_from`'s bootstrap stages into this run (a no-op once they are here)."""
    stages = bootstrap_stages(cfg)
    if cfg.bootstrap_from is None or all(ctx.manifest.is_done(s) for s in stages):
        return
    src = Path(cfg.bootstrap_from)
    if src.resolve() == ctx.run_dir.resolve():
        raise ConfigError(f"bootstrap_from: {src} is this run's own directory")
    if not (src / "config.yaml").is_file():
        raise ConfigError(f"bootstrap_from: {src} is not a run directory (no config.yaml)")
    free = [f.name for f in dataclasses.fields(RunConfig) if f.name not in SHARED] + [
        "backend_args.batch_size"
    ]
    check_saved_config(
        src / "config.yaml", cfg, free, new_at_default=True,
        refused=f"bootstrap_from: {src} made its bootstrap with other settings",
        hint="Start from a run with the same model, seed, backend, seed_data, bootstrap and eval settings.",
    )  # fmt: skip
    source = Manifest.open(src)
    missing = [s for s in stages if not source.is_done(s)]
    if missing:
        raise ConfigError(f"bootstrap_from: {src} has not finished {', '.join(missing)}; resume it first")
    for d in DIRS:
        if (src / d).is_dir():
            _copy_dir(src / d, ctx.path(d))
    # the query pool too, when the source made one (a run without rounds has none: this run makes it)
    stages += ["queries"] * source.is_done("queries")
    for s in stages:
        ctx.manifest.mark_done(s, **{**(source.get(s) or {}), "copied_from": str(src)})
    console.print(f"[dim]bootstrap stages copied from {src}: {', '.join(stages)}[/dim]")


def _copy_dir(src: Path, dst: Path) -> None:
    """`src` -> `dst` through a temporary name (a killed copy leaves no half directory behind as `dst`);
    training checkpoints stay behind (the finished adapter is all a round needs)."""
    tmp = dst.with_name(dst.name + ".copying")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("checkpoint-*"))
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
