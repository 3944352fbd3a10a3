"""The SFT stage: TRL `SFTTrainer` + PEFT LoRA on prompt-completion samples, resumable, under accelerate.

    toolace train --config configs/train.yaml --samples runs/mix/samples.jsonl --out runs/sft
    accelerate launch --config_file configs/accelerate/multi_gpu.yaml -m open_toolace.cli train ...

Output dir: the adapter (or full model) + tokenizer, `train_config.yaml` (resolved config, written first),
`train_metrics.json` (written last: its presence marks the run finished), `checkpoint-N/` while training.
A killed run restarts from its last checkpoint when called again with the same config and samples.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from open_toolace.config import check_saved_config, save_config, to_dict
from open_toolace.hardware import apply_threads, machine_info
from open_toolace.io import atomic_write_json, read_json
from open_toolace.training.config import TrainConfig
from open_toolace.training.data import load_samples, prepare_samples

METRICS = "train_metrics.json"
CONFIG = "train_config.yaml"
INPUTS = "train_inputs.json"


def world_size() -> int:
    """Processes in this run (accelerate / torchrun set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def file_sha1(path: str | Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_base(cfg: TrainConfig):
    """The base model (fp32 on CPU; the Trainer moves it) and its tokenizer, right-padded for training."""
    from open_toolace.models import load_model

    model, tok = load_model(cfg.model, dtype="float32", device="cpu")
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(cfg.attn_implementation)
    model.config.use_cache = False
    tok.padding_side = "right"
    return model, tok


def lora_config(cfg: TrainConfig):
    from peft import LoraConfig

    targets: Any = cfg.lora_target_modules
    if targets != "all-linear":
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
        bias="none",
    )


def sft_config(cfg: TrainConfig, output_dir: str | Path, n_rows: int | None = None):
    """TrainConfig -> trl.SFTConfig. Inputs arrive tokenized and truncated, hence `max_length=None`.
    With `n_rows` (the training rows) warmup is a step count rounded down (`warmup_steps`); without,
    it is left to transformers as a ratio (rounded up)."""
    import torch
    from trl import SFTConfig

    if not 0 <= cfg.warmup_ratio < 1:
        raise ValueError(f"warmup_ratio must be in [0, 1), got {cfg.warmup_ratio}")
    if n_rows is not None and cfg.step_cap and cfg.max_steps <= 0:
        steps = total_steps(cfg, n_rows, world_size())
        if steps > cfg.step_cap:
            cfg = replace(cfg, max_steps=cfg.step_cap)
    warmup = cfg.warmup_ratio if n_rows is None else warmup_steps(cfg, n_rows, world_size())
    with warnings.catch_warnings():
        # TRL 1.16 still sets `gradient_checkpointing`, which transformers 5.23 renamed; nothing to act on.
        warnings.filterwarnings(
            "ignore", message=".*gradient_checkpointing.*deprecated", category=FutureWarning
        )
        return _sft_config(SFTConfig, cfg, output_dir, warmup, torch.cuda.is_available())


def _sft_config(SFTConfig, cfg: TrainConfig, output_dir, warmup: float | int, cuda: bool):
    return SFTConfig(
        output_dir=str(output_dir),
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.accumulation_steps(world_size()),
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=warmup,  # steps; a float in [0, 1) is a ratio of the total steps (transformers 5)
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps,
        bf16=cfg.use_bf16(),
        fp16=False,
        use_cpu=not cuda,  # bf16 on CPU = torch.autocast("cpu", bfloat16)
        gradient_checkpointing=cfg.gradient_checkpointing,
        max_length=None,
        # one sample per micro-batch has no padding to remove (and TRL would warn about it)
        padding_free=cfg.padding_free and cfg.per_device_train_batch_size > 1,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        logging_steps=cfg.logging_steps,
        save_strategy=cfg.save_strategy,
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        report_to=cfg.report_to,
        seed=cfg.seed,
        data_seed=cfg.seed,
        dataloader_num_workers=cfg.dataloader_num_workers,
        ddp_find_unused_parameters=False,
    )


def total_steps(cfg: TrainConfig, n_rows: int, world: int = 1) -> int:
    """Optimizer steps of a run over `n_rows`: max_steps when set, else the epochs' steps."""
    if cfg.max_steps and cfg.max_steps > 0:
        return cfg.max_steps
    micro = math.ceil(n_rows / (cfg.per_device_train_batch_size * world))
    per_epoch = max(1, micro // cfg.accumulation_steps(world))
    return math.ceil(per_epoch * cfg.num_train_epochs)


def warmup_steps(cfg: TrainConfig, n_rows: int, world: int = 1) -> int:
    """Warmup optimizer steps: `warmup_ratio` of the run's steps, rounded DOWN. transformers rounds a ratio
    up, so a run of fewer than 10 steps (a small round: 10 samples at an effective batch of 8 are 2 steps)
    got one warmup step and took its first step at learning rate 0: a 1-step round trained nothing."""
    return int(cfg.warmup_ratio * total_steps(cfg, n_rows, world))


def make_trainer(cfg: TrainConfig, rows: list[dict], output_dir: str | Path, callbacks: list | None = None):
    """An SFTTrainer over tokenized `rows` (from `prepare_samples`) with the model `cfg` describes."""
    from datasets import Dataset
    from trl import SFTTrainer

    from open_toolace.training.sft import CompletionSFTTrainer

    args = sft_config(cfg, output_dir, len(rows))  # first: it sets up the distributed state
    model, tok = load_base(cfg)
    peft_config = None
    if cfg.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, cfg.adapter, is_trainable=True)
    elif not cfg.full_finetune:
        peft_config = lora_config(cfg)
    trainer_cls = CompletionSFTTrainer if cfg.sparse_lm_head else SFTTrainer
    return trainer_cls(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
        peft_config=peft_config,
        callbacks=callbacks,
    )


# Settings that may change between a kill and its resume without changing what is trained.
RESUME_FREE = ("overwrite", "dataloader_num_workers", "torch_threads", "report_to")


def _check_resume(cfg: TrainConfig, output_dir: Path, inputs: dict) -> str | None:
    """The checkpoint to resume from, after checking it was made by the same config and samples. A setting
    added to TrainConfig after the checkpoints were made, left at its default, does what the run did: it does
    not block the resume (`config.check_saved_config`, as for `toolace run`'s config)."""
    from transformers.trainer_utils import get_last_checkpoint

    if not output_dir.is_dir():
        return None
    last = get_last_checkpoint(str(output_dir))
    if last is None:
        return None
    check_saved_config(
        output_dir / CONFIG, cfg, RESUME_FREE, new_at_default=True,
        refused=f"{output_dir} holds checkpoints of a different config",
        hint="Pass overwrite=true to start over there, or choose another output dir.",
    )  # fmt: skip
    saved = output_dir / INPUTS
    if saved.exists() and read_json(saved).get("samples_sha1") != inputs["samples_sha1"]:
        raise ValueError(
            f"{output_dir} holds checkpoints of a different samples file; pass overwrite=true to start over "
            "there, or choose another output dir"
        )
    return last


def _finalize(
    trainer,
    cfg: TrainConfig,
    output_dir: Path,
    report: dict,
    result,
    resumed: str | None,
    t0: float,
    before: dict,
) -> dict:
    trainer.save_model(str(output_dir))  # adapter (or full model) + tokenizer
    if not is_main_process():
        return {}
    if cfg.prompt_set:
        from open_toolace.prompts import save_prompt_format

        save_prompt_format(output_dir, cfg.prompt_set)
    adapter_cfg = output_dir / "adapter_config.json"
    if adapter_cfg.exists():
        # Name the base by its spec, so load_model(output_dir) finds it (a cache path would not travel).
        d = json.loads(adapter_cfg.read_text())
        d["base_model_name_or_path"] = cfg.model
        adapter_cfg.write_text(json.dumps(d, indent=2))
    runtime = result.metrics.get("train_runtime", 0.0)  # this process only
    tokens = int(getattr(trainer, "_total_train_tokens", 0))  # all steps, when `before` is known
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    metrics = {
        "status": "done",
        "model": cfg.model,
        "full_finetune": cfg.full_finetune,
        "bf16": bool(trainer.args.bf16),
        "machine": machine_info("float32 weights, bf16 autocast" if trainer.args.bf16 else "float32"),
        "sparse_lm_head": cfg.sparse_lm_head,
        "resumed_from": resumed,
        "world_size": world_size(),
        "gradient_accumulation_steps": trainer.args.gradient_accumulation_steps,
        "effective_batch_size": trainer.args.gradient_accumulation_steps
        * cfg.per_device_train_batch_size
        * world_size(),
        "global_step": trainer.state.global_step,
        "train_loss": result.metrics.get("train_loss"),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        # all steps (before a resume too, when the checkpoint recorded them: `counts_all_steps`)
        "train_runtime_s": round(before["train_runtime_s"] + runtime, 2),
        "tokens_seen": tokens,
        "counts_all_steps": before["known"],
        "wall_s": round(time.perf_counter() - t0, 2),  # this process
        "tokens_per_s": round((tokens - before["tokens_seen"]) / runtime, 1) if runtime else None,
        "data": report,
        "log_history": trainer.state.log_history,
    }
    atomic_write_json(output_dir / METRICS, metrics)
    return metrics


def samples_prompt_set(samples_path: str | Path) -> str | None:
    """The prompt set `toolace train build` rendered a samples file in (its `<name>.config.yaml`), if any."""
    cfg_path = Path(samples_path).with_suffix(".config.yaml")
    if not cfg_path.exists():
        return None
    import yaml

    data = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
    return data.get("prompt_set") if isinstance(data, dict) else None


def train(
    cfg: TrainConfig, samples_path: str | Path, output_dir: str | Path, callbacks: list | None = None
) -> Path:
    """Train on the samples JSONL; returns `output_dir`, which holds the adapter (or full model) when done.

    Idempotent: a finished output dir is returned as is (unless `cfg.overwrite`); a killed one resumes from
    its last checkpoint.
    """

    out = Path(output_dir)
    if cfg.prompt_set is None:  # samples built by `toolace train build` say which set they are rendered in
        cfg = replace(cfg, prompt_set=samples_prompt_set(samples_path))
        if cfg.prompt_set is None:
            import warnings

            warnings.warn(
                f"{samples_path}: no prompt set recorded (no {Path(samples_path).with_suffix('.config.yaml').name}"
                "); the model will be served with the default, 'lean'. Set prompt_set=bfcl if the samples "
                "are rendered in BFCL's prompt",
                stacklevel=2,
            )
    apply_threads(cfg.torch_threads)
    if (out / METRICS).exists() and not cfg.overwrite:
        print(f"{out}: already trained ({METRICS} present); pass overwrite=true to train again")
        return out
    if cfg.overwrite and out.exists() and is_main_process():
        for p in out.glob("checkpoint-*"):
            shutil.rmtree(p)
        for name in (METRICS, INPUTS):
            (out / name).unlink(missing_ok=True)
    t0 = time.perf_counter()
    inputs = {"samples": str(samples_path), "samples_sha1": file_sha1(samples_path), "config": to_dict(cfg)}
    resume = None if cfg.overwrite else _check_resume(cfg, out, inputs)
    samples = load_samples(samples_path)
    from open_toolace.models import load_tokenizer

    tok = load_tokenizer(cfg.model)
    rows, report = prepare_samples(samples, tok, cfg.max_length)
    if not rows:
        raise ValueError(f"{samples_path}: every sample lost its completion to max_length={cfg.max_length}")
    if is_main_process():
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / CONFIG)
        atomic_write_json(out / INPUTS, inputs)
        print(
            f"samples: {report['samples']} kept of {report['samples_in']}, {report['dropped_truncated']} dropped "
            f"(completion cut away by max_length={cfg.max_length}), {report['truncated_kept']} cut but kept; "
            f"{report['tokens']} tokens, {report['loss_tokens']} in completions"
        )
        if resume:
            print(f"resuming from {resume}")
    trainer = make_trainer(cfg, rows, out, callbacks)
    before = _progress_before(resume)
    trainer._total_train_tokens = before["tokens_seen"]  # the token count goes on from the checkpoint's
    trainer.add_callback(_progress_callback(trainer, before))
    result = trainer.train(resume_from_checkpoint=resume)
    _finalize(trainer, cfg, out, report, result, resume, t0, before)
    return out


PROGRESS = "progress.json"  # in each checkpoint: tokens trained and training seconds up to it


def _progress_before(resume: str | None) -> dict:
    """Tokens and training seconds of the steps before `resume` (zeros without one). A checkpoint written
    before this file existed, or killed between saving and writing it, reports `known: false`."""
    if resume is None:
        return {"tokens_seen": 0, "train_runtime_s": 0.0, "known": True}
    path = Path(resume) / PROGRESS
    if not path.exists():
        return {"tokens_seen": 0, "train_runtime_s": 0.0, "known": False}
    return {**read_json(path), "known": True}


def _progress_callback(trainer, before: dict):
    """A callback that writes PROGRESS into every checkpoint, so a resumed run reports the tokens and time
    of all its steps, not only of the steps after the resume."""
    from transformers import TrainerCallback

    t0 = time.perf_counter()

    class ProgressInCheckpoint(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir() and is_main_process():
                seconds = round(before["train_runtime_s"] + time.perf_counter() - t0, 2)
                tokens = int(trainer._total_train_tokens)
                atomic_write_json(ckpt / PROGRESS, {"tokens_seen": tokens, "train_runtime_s": seconds})

    return ProgressInCheckpoint()
