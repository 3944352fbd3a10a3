"""SFT stage: `TrainConfig`, `train(cfg, samples_path, output_dir)`, `export_merged(adapter_dir, out_dir)`.

See docs/training.md. Heavy libraries (torch, transformers, trl, peft) load inside the functions.
"""

from open_toolace.training.config import TrainConfig
from open_toolace.training.data import IGNORE, load_samples, prepare_samples, tokenize_sample, validate_sample
from open_toolace.training.export import export_merged
from open_toolace.training.trainer import make_trainer, sft_config, train

__all__ = [
    "IGNORE",
    "TrainConfig",
    "export_merged",
    "load_samples",
    "make_trainer",
    "prepare_samples",
    "sft_config",
    "tokenize_sample",
    "train",
    "validate_sample",
]
