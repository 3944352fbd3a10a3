"""`EvalConfig`: one evaluation run (the `toolace eval` flags, or an `eval:` YAML block), and its defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# hf backend: batches of 128 prompts (bigger matmuls per decode step; `bench/eval.py --batch-sizes`)
HF_EVAL_BATCH = 128
# settings that change what the model generates: a run dir's outputs are reused only if these agree
GENERATION_KEYS = ("model", "adapter", "backend", "dtype", "max_new_tokens", "prompt_set")


@dataclass
class EvalConfig:
    model: str = field(
        default="embedded:smollm2-135m", metadata={"help": "model spec (models.load_model) or served name"}
    )
    adapter: str | None = field(default=None, metadata={"help": "LoRA adapter directory on top of the model"})
    backend: str = field(default="hf", metadata={"help": "generation backend: hf, vllm or openai"})
    benchmark: str = field(default="bfcl", metadata={"help": "benchmark to run (bfcl); ignored with dataset"})
    categories: str = field(
        default="all", metadata={"help": "comma list of BFCL categories / groups (all, non_live, live, ...)"}
    )
    limit: int | None = field(
        default=None,
        metadata={"help": "first N items per category; with dataset, the first N of the file (None: all)"},
    )
    dataset: str | None = field(
        default=None, metadata={"help": "a BFCL-format question file instead of the benchmark"}
    )
    answers: str | None = field(
        default=None, metadata={"help": "possible-answer file for dataset (else its ground_truth field)"}
    )
    out: str | None = field(
        default=None, metadata={"help": "run directory (default runs/eval/<model>[-<adapter>])"}
    )
    batch_size: int | None = field(
        default=None,
        metadata={
            "help": f"hf: prompts per batch (None: {HF_EVAL_BATCH}); openai: concurrent requests "
            "(None: the backend's default)"
        },
    )
    save_every: int = field(
        default=HF_EVAL_BATCH,
        metadata={"help": "items per generate call (a multiple of batch_size); results are saved after each"},
    )
    max_new_tokens: int = field(default=256, metadata={"help": "generation budget per answer (greedy)"})
    seed: int = field(default=0, metadata={"help": "generation seed"})
    backend_args: dict = field(
        default_factory=dict, metadata={"help": "extra make_generator kwargs (base_url, dtype, ...)"}
    )
    fresh: bool = field(default=False, metadata={"help": "discard results already in the run directory"})
    threads: int | str | None = field(
        default="auto", metadata={"help": "torch threads: auto (hardware.resolve_threads), a number, or null"}
    )
    prompt_set: str | None = field(
        default=None,
        metadata={
            "help": "lean | bfcl; null: the set saved with the adapter (prompt_format.json), else lean"
        },
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    samples: int = field(
        default=1, metadata={"help": "K > 1: also K samples per item -> greedy, maj@K, pass@K (headroom)"}
    )
    temperature: float = field(default=0.7, metadata={"help": "temperature of the K samples (samples > 1)"})
    refine: int = field(default=0, metadata={"help": "N > 0: then self-refine greedy answers (N steps max)"})


def default_out_dir(cfg: EvalConfig) -> Path:
    def slug(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", s.rstrip("/")).strip("_")[-60:]

    name = slug(cfg.model) + (f"-{slug(Path(cfg.adapter).name)}" if cfg.adapter else "")
    if cfg.dataset:
        name += f"-{slug(Path(cfg.dataset).stem)}"
    return Path("runs") / "eval" / name
