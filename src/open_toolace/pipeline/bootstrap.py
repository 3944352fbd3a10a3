"""Stages 1+2 of ToolACE-DEV: the sub-task mixture from the seed examples, and LoRA training on it.

`train_adapter` is also what each round trains with. The live generator is released before training, so
the trainer loads its own copy of the base model in its own dtype: no weights are shared between the two.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from open_toolace.data.tool_docs import load_tool_docs
from open_toolace.io import atomic_write_json, read_json, read_jsonl, write_jsonl
from open_toolace.pipeline.config import RunConfig
from open_toolace.pipeline.manifest import Ctx
from open_toolace.training import TrainConfig, train
from open_toolace.training.mixture import build_mixture, token_counter

TRAIN_INFO = (
    "global_step",
    "train_loss",
    "first_loss",
    "last_loss",
    "tokens_per_s",
    "wall_s",
    "resumed_from",
)


def bootstrap_samples(cfg: RunConfig, ctx: Ctx) -> dict[str, Any]:
    """seed/examples.jsonl (+ extra tool docs) -> bootstrap/samples.jsonl and its report."""
    examples = read_jsonl(ctx.path("seed", "examples.jsonl"))
    extra = cfg.seed_data.extra_tools
    tools = [t.to_dict() for t in load_tool_docs(extra)] if extra else []
    mix = replace(cfg.bootstrap.mix, seed=cfg.seed)
    samples, report = build_mixture(examples, mix, tools=tools, count_tokens=token_counter(cfg.model))
    n = write_jsonl(ctx.path("bootstrap", "samples.jsonl"), samples)
    atomic_write_json(ctx.path("bootstrap", "samples_report.json"), report)
    return {
        "samples": n,
        "tasks": report.get("tasks"),
        "supervised_token_shares": report["supervised_token_shares"],
    }


def train_adapter(
    ctx: Ctx,
    stage: str,
    tcfg: TrainConfig,
    *,
    model: str,
    samples: Path,
    out: Path,
    init_adapter: str | None,
    seed: int,
    prompt_set: str | None = None,
) -> dict[str, Any]:
    """LoRA training (open_toolace.training, which resumes from its own checkpoints in `out`)."""
    cfg = replace(tcfg, model=model, adapter=init_adapter, seed=seed, overwrite=False, prompt_set=prompt_set)
    ctx.generators.release()  # free the generator's model before training
    train(cfg, samples, out, callbacks=ctx.hooks.train_callbacks(stage) or None)
    metrics = read_json(out / "train_metrics.json")
    return {k: metrics.get(k) for k in TRAIN_INFO}
