"""`TrainConfig`: the one config of the SFT stage (YAML + `key=value` overrides via open_toolace.config).

Defaults are the ToolACE / ToolACE-DEV recipe: LoRA r=16, alpha=32 on all linear layers, lr 1e-4 with a
cosine schedule and 10% warmup, 3 epochs, an effective batch of 48 reached by gradient accumulation.
The efficiency defaults (padding-free batches, length grouping, no gradient checkpointing) come from
`bench/train.py` on 2 CPU cores; see docs/training.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from open_toolace.hardware import bf16_is_fast
from open_toolace.models import DEFAULT_MODEL


@dataclass
class TrainConfig:
    """Supervised fine-tuning (TRL SFTTrainer, completion-only loss) with PEFT LoRA or full weights."""

    model: str = field(
        default=DEFAULT_MODEL, metadata={"help": "base model spec: embedded:..., tiny-random, HF id or dir"}
    )
    adapter: str | None = field(
        default=None,
        metadata={
            "help": "continue training this LoRA adapter dir (self-evolution rounds) instead of a new one"
        },
    )
    full_finetune: bool = field(
        default=False, metadata={"help": "train every weight instead of a LoRA adapter"}
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)"})
    lora_dropout: float = field(default=0.05, metadata={"help": "dropout on the LoRA input"})
    lora_target_modules: str = field(
        default="all-linear",
        metadata={"help": "PEFT target_modules: 'all-linear' or comma-separated module names"},
    )
    learning_rate: float = field(default=1e-4, metadata={"help": "peak learning rate (AdamW)"})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "transformers scheduler name"})
    warmup_ratio: float = field(
        default=0.1, metadata={"help": "share of the optimizer steps spent warming up"}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm"})
    num_train_epochs: float = field(default=3.0, metadata={"help": "passes over the samples"})
    max_steps: int = field(
        default=-1, metadata={"help": "stop after this many optimizer steps (-1: use epochs)"}
    )
    step_cap: int | None = field(
        default=None,
        metadata={
            "help": "at most this many optimizer steps: the epochs' steps when fewer (null: no cap). Unlike "
            "max_steps it never repeats the data: a round that kept little trains on what it kept, once"
        },
    )
    per_device_train_batch_size: int = field(
        default=2, metadata={"help": "samples per forward pass and process"}
    )
    effective_batch_size: int = field(
        default=48,
        metadata={
            "help": "samples per optimizer step over all processes; accumulation = this / (micro-batch * processes)"
        },
    )
    gradient_accumulation_steps: int | None = field(
        default=None,
        metadata={"help": "set explicitly to override the value derived from effective_batch_size"},
    )
    max_length: int = field(
        default=1024,
        metadata={
            "help": "tokens per sample (prompt + completion); longer ones are cut at the end, and a sample "
            "left with no completion token is dropped and counted"
        },
    )
    padding_free: bool = field(
        default=True,
        metadata={
            "help": "flatten each micro-batch into one row with per-sample position_ids: no pad tokens, "
            "samples stay separate (block-diagonal mask under SDPA/eager, varlen under flash-attn)"
        },
    )
    group_by_length: bool = field(
        default=True,
        metadata={"help": "batch samples of similar length together (less padding / masked attention)"},
    )
    attn_implementation: str = field(
        default="sdpa", metadata={"help": "sdpa | eager | flash_attention_2 (GPU)"}
    )
    bf16: bool | None = field(
        default=None,
        metadata={
            "help": "bf16 autocast (weights stay fp32). null = auto: on for CUDA with bf16 and for CPUs with "
            "AVX512-BF16/AMX (matmuls ~2x faster there), off otherwise"
        },
    )
    sparse_lm_head: bool = field(
        default=True,
        metadata={
            "help": "run the LM head only at positions that carry loss (completion tokens); false = TRL's "
            "fused head, which on CPU scores every position in fp32"
        },
    )
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "recompute activations: less memory, ~30% slower"}
    )
    seed: int = field(default=0, metadata={"help": "seed of LoRA init, dropout and the data order"})
    save_strategy: str = field(
        default="steps", metadata={"help": "when to write checkpoints: steps | epoch | no"}
    )
    save_steps: int = field(
        default=20, metadata={"help": "optimizer steps between checkpoints (save_strategy=steps)"}
    )
    save_total_limit: int = field(
        default=2, metadata={"help": "checkpoints kept in output_dir (older ones are deleted)"}
    )
    logging_steps: int = field(default=1, metadata={"help": "optimizer steps between log lines"})
    report_to: str = field(default="none", metadata={"help": "none | tensorboard | wandb ..."})
    dataloader_num_workers: int = field(
        default=0, metadata={"help": "DataLoader workers (0: in the training process)"}
    )
    torch_threads: int | str | None = field(
        default=None,
        metadata={
            "help": "torch intra-op threads: a number, auto (open_toolace.hardware.resolve_threads), "
            "or null (leave the process's setting)"
        },
    )
    prompt_set: str | None = field(
        default=None,
        metadata={
            "help": "the prompt set the samples were rendered in (training.mixture.TaskMixConfig.prompt_set); "
            "saved with the adapter as prompt_format.json, so eval / infer / rounds serve it the same way"
        },
    )
    overwrite: bool = field(
        default=False, metadata={"help": "retrain even when output_dir holds a finished run"}
    )

    def __post_init__(self) -> None:
        if self.per_device_train_batch_size < 1 or self.effective_batch_size < 1:
            raise ValueError("per_device_train_batch_size and effective_batch_size must be >= 1")
        if self.max_length < 2:
            raise ValueError("max_length must be >= 2")
        if self.full_finetune and self.adapter:
            raise ValueError("adapter (continue a LoRA adapter) and full_finetune exclude each other")

    def use_bf16(self) -> bool:
        """The resolved `bf16` (auto -> what this machine runs fast)."""
        return self.bf16 if self.bf16 is not None else bf16_is_fast()

    def accumulation_steps(self, world_size: int = 1) -> int:
        """Micro-batches per optimizer step so that micro-batch * processes * steps ~= effective_batch_size."""
        if self.gradient_accumulation_steps:
            return self.gradient_accumulation_steps
        return max(1, math.ceil(self.effective_batch_size / (self.per_device_train_batch_size * world_size)))
