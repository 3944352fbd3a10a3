"""Stage `bootstrap.toolace_r` (`bootstrap.method: toolace-r`): ToolACE-R's model-aware iterative training on
the seed examples, after the SFT bootstrap (`bootstrap.sft_first`) or instead of it.

The loop (`refine.iterate.run_toolace_r`) runs in `bootstrap/toolace_r/` with its own manifest, so a run killed
inside it resumes at the loop's unfinished stage; it shares the run's one live generator and hooks (its stages
are seen as `bootstrap.toolace_r.iter<i>.<step>`). Its final adapter is the bootstrap adapter: `eval.bootstrap`
scores it and round 1 continues it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from open_toolace.data.tool_docs import load_tool_docs
from open_toolace.io import read_jsonl
from open_toolace.pipeline.config import RunConfig
from open_toolace.pipeline.manifest import Ctx
from open_toolace.refine.config import ToolaceRConfig

STAGE = "bootstrap.toolace_r"
SFT_ADAPTER = "bootstrap/adapter"


def toolace_r_config(cfg: RunConfig, start_adapter: str | None) -> ToolaceRConfig:
    """The loop's config inside a run: model, seed, backend and the mixture are the run's, so the loop
    samples and trains what the rest of the run serves (mix null = bootstrap.mix, seeded by the run)."""
    t = cfg.bootstrap.toolace_r
    return replace(
        t,
        seed=cfg.seed,
        backend=cfg.backend,
        backend_args=dict(cfg.backend_args),
        mix=t.mix if t.mix is not None else replace(cfg.bootstrap.mix, seed=cfg.seed),
        train=replace(t.train, model=cfg.model, adapter=start_adapter),
    )


def toolace_r_stage(cfg: RunConfig, ctx: Ctx) -> dict[str, Any]:
    """Run (or resume) the loop over seed/examples.jsonl; the info names the final adapter (run-dir relative)."""
    from open_toolace.refine.iterate import run_toolace_r

    start = str(ctx.path(SFT_ADAPTER)) if cfg.bootstrap.sft_first else None
    extra = cfg.seed_data.extra_tools
    summary = run_toolace_r(
        toolace_r_config(cfg, start),
        read_jsonl(ctx.path("seed", "examples.jsonl")),
        ctx.path("bootstrap", "toolace_r"),
        tools=[t.to_dict() for t in load_tool_docs(extra)] if extra else [],
        generators=ctx.generators,
        hooks=ctx.hooks,
        hook_prefix=f"{STAGE}.",
        progress=cfg.progress,
        check_config=False,  # the run's own check_resume covers every setting of the loop
    )
    if summary["adapter"] is None:
        raise ValueError(
            "bootstrap.toolace_r trained no adapter (stopped: "
            f"{summary['stop_reason']}) and there is no SFT adapter to fall back on (bootstrap.sft_first=false)"
        )
    return {
        "adapter": ctx.rel(summary["adapter"]),
        "iterations_run": summary["iterations_run"],
        "iterations_trained": summary["iterations_trained"],
        "stop_reason": summary["stop_reason"],
        "selected": summary["selected"],
    }
