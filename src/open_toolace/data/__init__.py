"""Tool-calling data: the internal example record, adapters for public data sets, stats, HF datasets view.

    from open_toolace.data import load_examples, write_examples, to_hf_dataset
    examples = load_examples("../shared/data/toolrl_rlla_sft.json")        # format detected from the data
    write_examples("out/toolrl.jsonl", examples)
    ds = to_hf_dataset(examples)                                            # datasets.Dataset

Record format, per-source decisions and the CLI (`toolace data convert|stats`) are in docs/data.md.
"""

from open_toolace.data.adapters import (
    FORMATS,
    convert,
    detect_format,
    iter_examples,
    load_examples,
    read_examples,
    read_internal,
    rejects_path,
    write_examples,
)
from open_toolace.data.hf import from_hf_row, to_hf_dataset
from open_toolace.data.records import (
    Reject,
    example_query,
    example_user_text,
    is_reject,
    make_example,
    make_reject,
    validate_example,
)
from open_toolace.data.stats import render_stats, stats

__all__ = [
    "FORMATS",
    "Reject",
    "convert",
    "detect_format",
    "example_query",
    "example_user_text",
    "from_hf_row",
    "is_reject",
    "iter_examples",
    "load_examples",
    "make_example",
    "make_reject",
    "read_examples",
    "read_internal",
    "rejects_path",
    "render_stats",
    "stats",
    "to_hf_dataset",
    "validate_example",
    "write_examples",
]
