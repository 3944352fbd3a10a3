"""BFCL after every stage, on the same fixed items (the config's categories and first-N limit)."""

from __future__ import annotations

from typing import Any

from open_toolace.evaluate import evaluate_bfcl
from open_toolace.evaluate.runner import generator_dtype
from open_toolace.pipeline.config import RunConfig
from open_toolace.pipeline.manifest import Ctx


def eval_stage(cfg: RunConfig, ctx: Ctx, name: str, adapter: str | None) -> dict[str, Any]:
    """BFCL for base model + adapter (run-dir relative) -> eval/<name>/ (evaluate's run dir)."""
    e = cfg.eval
    gen = ctx.generators.get(ctx.path(adapter) if adapter else None)
    scores = evaluate_bfcl(
        gen,
        e.categories,
        e.limit,
        ctx.path("eval", name),
        save_every=e.save_every,
        max_new_tokens=e.max_new_tokens,
        seed=cfg.seed,
        progress=cfg.progress,
        prompts=cfg.bootstrap.mix.prompt_set,  # every stage on the same prompt: the one the model learns
        # the headroom of the model the rounds start from (only there: it costs K generations per item)
        **(
            {"samples": e.headroom_samples, "temperature": e.headroom_temperature}
            if name == "bootstrap" and e.headroom_samples > 1
            else {}
        ),  # fmt: skip
        meta={
            "model": cfg.model,
            "adapter": adapter,
            "backend": cfg.backend,
            "dtype": generator_dtype(gen, cfg.backend_args.get("dtype")),
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
