"""The SFT stage's public API (`open_toolace.train`), implemented in the `open_toolace.training` package."""

from open_toolace.training import (
    IGNORE,
    TrainConfig,
    export_merged,
    load_samples,
    make_trainer,
    prepare_samples,
    sft_config,
    tokenize_sample,
    train,
    validate_sample,
)

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
