"""`ToolaceRConfig`: the settings of ToolACE-R's model-aware iterative training (`refine.iterate`).

A module of its own, with no pipeline import, so `pipeline.config.RunConfig` can hold one as its
`bootstrap.toolace_r` section without an import cycle (the loop itself reuses the pipeline's stages).
YAML + `key=value` overrides like every config (`open_toolace.config.load_config`); the resolved config
is saved as `<out>/config.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from open_toolace.training.config import TrainConfig
from open_toolace.training.mixture import TaskMixConfig

REFINEMENT_FROM = ("all", "selected", "none")


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


def _iteration_train() -> TrainConfig:
    # An iteration trains on the examples the model still gets wrong (a subset of the pool) plus their
    # refinement corpus, continuing the previous adapter: one pass and a small batch, as a round does.
    return TrainConfig(num_train_epochs=1.0, effective_batch_size=16)


@dataclass
class ToolaceRConfig:
    """Model-aware iterative training (ToolACE-R, arXiv 2504.01400): sample, select, train, repeat."""

    iterations: int = _opt(3, "most iterations N; the loop also stops when the selection stops shrinking")
    k: int = _opt(4, "answers sampled per pool example (its pass rate is right answers / k)")
    pool_limit: int | None = _opt(
        None,
        "score and train on at most N pool examples, a seeded random subset of the usable ones (the rest "
        "are recorded as skipped over_pool_limit): k answers per example are the loop's main cost "
        "(null: the whole pool)",
    )
    temperature: float = _opt(0.7, "sampling temperature of the k answers")
    max_new_tokens: int = _opt(256, "generation budget of one sampled answer")
    threshold: float = _opt(0.75, "an example is unsolved (always selected) when its pass rate is below this")
    solved_share: float = _opt(
        0.1, "solved examples replayed, as a share of the unsolved count (refine.selection.select)"
    )
    keep_share: float = _opt(
        0.5, "share of 'keep' samples (a right answer maps to itself) in the refinement corpus"
    )
    refinement_from: str = _opt(
        "all",
        "whose scored answers build the refinement corpus: all (the whole pool, as scored this iteration), "
        "selected (only the selected examples'), none (no refinement corpus: selection-only ablation)",
    )
    seed: int = _opt(0, "seed of sampling, selection, distractors and the corpus (toolace run: the run's)")
    backend: str = _opt("hf", "generation backend of the sampling: hf | vllm (toolace run: the run's)")
    backend_args: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "extra make_generator kwargs, e.g. batch_size (toolace run: the run's)"},
    )
    mix: TaskMixConfig | None = field(
        default=None,
        metadata={
            "help": "how the selected examples become invocation samples (distractors, abstentions, prompt "
            "set, identifier names: training.tasks.build_invocation; ratios, caps and token shares are not "
            "applied). null: the data's own mixture config (a --samples file's <name>.config.yaml; "
            "toolace run: bootstrap.mix), else TaskMixConfig defaults"
        },
    )
    train: TrainConfig = field(
        default_factory=_iteration_train,
        metadata={
            "help": "LoRA training of one iteration (train.TrainConfig): model is the base, adapter the one "
            "iteration 1 starts from (null: a new LoRA on the base model); later iterations continue the "
            "previous iteration's adapter; its seed is replaced by the loop's seed + iteration"
        },
    )
    eval_categories: str | None = _opt(
        None, "BFCL categories to evaluate after every iteration (null: no per-iteration BFCL)"
    )
    eval_limit: int | None = _opt(25, "per-iteration BFCL: first N items of every category (null: all)")
    eval_max_new_tokens: int = _opt(128, "per-iteration BFCL: greedy generation budget per answer")

    def __post_init__(self) -> None:
        if self.iterations < 1 or self.k < 1 or self.max_new_tokens < 1:
            raise ValueError("toolace_r: need iterations >= 1, k >= 1, max_new_tokens >= 1")
        if self.pool_limit is not None and self.pool_limit < 1:
            raise ValueError(f"toolace_r.pool_limit must be >= 1 or null, got {self.pool_limit}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"toolace_r.threshold must be in [0, 1], got {self.threshold}")
        if self.solved_share < 0:
            raise ValueError(f"toolace_r.solved_share must be >= 0, got {self.solved_share}")
        if not 0.0 <= self.keep_share <= 1.0:
            raise ValueError(f"toolace_r.keep_share must be in [0, 1], got {self.keep_share}")
        if self.refinement_from not in REFINEMENT_FROM:
            raise ValueError(
                f"toolace_r.refinement_from must be one of {', '.join(REFINEMENT_FROM)}, "
                f"got {self.refinement_from!r}"
            )
        if self.train.full_finetune:
            raise ValueError(
                "toolace_r trains a LoRA adapter across iterations; full_finetune is not supported"
            )

    def mixture(self) -> TaskMixConfig:
        """The invocation mixture config in force (`mix`, or the defaults when it is null)."""
        return self.mix if self.mix is not None else TaskMixConfig()
