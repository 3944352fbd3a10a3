"""Format name -> reader, format detection, and the load/write helpers other stages use.

Every reader is `reader(path, **options) -> Iterator[example | Reject]` (see `records.py`). Options by
format: `sealtools` takes `tools=` (its tool file) and `distractors=`; `bfcl` takes `answers=`;
`sharegpt` formats take `turns=` and `repair_names=`. Unknown options are an error, not ignored.

    from open_toolace.data import load_examples, write_examples
    examples = load_examples("../shared/data/glaive_toolcall_en_demo.json")   # format detected
"""

from __future__ import annotations

import functools
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from open_toolace.data.bfcl import read_bfcl, resolve_bfcl_path
from open_toolace.data.instruct import read_apibank, read_toolrl
from open_toolace.data.records import Reject, is_reject, make_reject, validate_example
from open_toolace.data.sealtools import read_sealtools
from open_toolace.data.sharegpt import read_sharegpt
from open_toolace.data.sources import iter_records, sniff_record
from open_toolace.io import DataFileError, write_jsonl

Reader = Callable[..., Iterator[dict]]


def read_internal(path: str | Path) -> Iterator[dict | Reject]:
    """Our own JSONL; a record that fails `validate_example` becomes a reject (`invalid_example`)."""
    for item in iter_records(path):
        if not isinstance(item, tuple):
            yield item
            continue
        line, index, rec = item
        problems = validate_example(rec)
        if problems:
            yield make_reject(line, "invalid_example", rec, "; ".join(problems), index=index)
        else:
            yield rec


# A plain dict, not a registry: adding a format is adding a line here.
FORMATS: dict[str, Reader] = {
    "internal": read_internal,
    "toolrl": read_toolrl,
    "sharegpt": read_sharegpt,
    "toolace_sharegpt": functools.partial(read_sharegpt, source="toolace_sharegpt"),
    "glaive_sharegpt": functools.partial(read_sharegpt, source="glaive_sharegpt"),
    "apibank": read_apibank,
    "sealtools": read_sealtools,
    "bfcl": read_bfcl,
}


# One line per format for `toolace data formats` and error messages.
FORMAT_HELP: dict[str, str] = {
    "internal": "our JSONL records (docs/data.md); invalid records are rejected",
    "toolrl": "ToolRL mix: {instruction, input, output}, tools in the instruction, <tool_call> JSON lines",
    "sharegpt": "LLaMA-Factory ShareGPT: conversations human/gpt/function_call/observation + tools",
    "toolace_sharegpt": "ToolACE ShareGPT export (tools in the system prompt; truncated call names repaired)",
    "glaive_sharegpt": "glaive function calling in ShareGPT form",
    "apibank": "API-Bank level-3: API docs + history in input, API-Request: [Api(k='v')] or AI: text",
    "sealtools": "Seal-Tools queries {id, query, calling}; needs the tool file (--tools)",
    "bfcl": "BFCL question file (or category name) + possible_answer file",
}


def detect_format(path: str | Path) -> str:
    """Guess the format from the first record's shape; DataFileError if nothing matches."""
    p = Path(path)
    if not p.exists() and p.suffix == "":
        return "bfcl"  # a bare BFCL category name such as `simple_python`
    rec = sniff_record(p)
    if isinstance(rec, dict):
        if "messages" in rec and "calls" in rec:
            return "internal"
        if "conversations" in rec:
            if "functions in JSON format" in str(rec.get("system", "")):
                return "toolace_sharegpt"
            return "glaive_sharegpt" if "glaive" in p.name else "sharegpt"
        if "calling" in rec and "query" in rec:
            return "sealtools"
        if "question" in rec and "id" in rec:
            return "bfcl"
        if "instruction" in rec and "output" in rec:
            if "**Available Tools**" in str(rec["instruction"]) or "<tool_call>" in str(rec["output"]):
                return "toolrl"
            if "apiCode" in str(rec.get("input", "")) or "API-Request" in str(rec["output"]):
                return "apibank"
    keys = sorted(rec)[:8] if isinstance(rec, dict) else type(rec).__name__
    raise DataFileError(
        f"{p}: cannot detect the data format from the first record ({keys}); pass --from one of {sorted(FORMATS)}"
    )


def iter_examples(path: str | Path, fmt: str = "auto", **options: Any) -> Iterator[dict | Reject]:
    """Examples and rejects of a file, in file order."""
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {sorted(FORMATS)}")
    return FORMATS[fmt](path, **options)


def read_examples(path: str | Path, fmt: str = "auto", **options: Any) -> tuple[list[dict], list[Reject]]:
    """All examples and all rejects of a file."""
    examples: list[dict] = []
    rejects: list[Reject] = []
    for item in iter_examples(path, fmt, **options):
        (rejects if is_reject(item) else examples).append(item)  # type: ignore[arg-type]
    return examples, rejects


def load_examples(path: str | Path, fmt: str = "auto", *, strict: bool = False, **options: Any) -> list[dict]:
    """The examples of a file. Rejected records are never silent: `strict=True` raises DataFileError on
    the first one; otherwise a warning gives their count by reason (use `read_examples` to get them)."""
    examples, rejects = read_examples(path, fmt, **options)
    if rejects:
        first = rejects[0]
        where = f"{path}:{first['line']}: {first['reason']}" + (
            f" ({first['detail']})" if first.get("detail") else ""
        )
        if strict:
            raise DataFileError(f"{where}; {len(rejects)} record(s) rejected in all")
        counts = dict(Counter(r["reason"] for r in rejects).most_common())
        warnings.warn(f"{path}: {len(rejects)} record(s) rejected {counts}; first: {where}", stacklevel=2)
    return examples


def write_examples(path: str | Path, examples: Iterable[dict]) -> int:
    """Write examples as JSONL atomically; refuses an invalid example rather than writing it."""
    rows = list(examples)
    for i, ex in enumerate(rows):
        problems = validate_example(ex)
        if problems:
            raise ValueError(
                f"example #{i} ({ex.get('id') if isinstance(ex, dict) else '?'}): {'; '.join(problems)}"
            )
    return write_jsonl(path, rows)


def rejects_path(out: str | Path) -> Path:
    """`dir/train.jsonl` -> `dir/train.rejects.jsonl`."""
    p = Path(out)
    return p.with_name(f"{p.stem}.rejects.jsonl")


def convert(src: str | Path, out: str | Path, fmt: str = "auto", **options: Any) -> dict[str, Any]:
    """Read `src`, write its examples to `out` and its rejects beside it; returns the summary.

    `read` counts the source records; each yields at least one example or reject, so none is lost.
    """
    if fmt == "auto":
        fmt = detect_format(src)
    examples, rejects = [], []
    for item in iter_examples(src, fmt, **options):
        if is_reject(item):
            rejects.append(item)
            continue
        problems = validate_example(item)
        if problems:  # an adapter bug or an odd record: record it, never write an invalid example
            line = item.get("meta", {}).get("line", 0)
            rejects.append(make_reject(line, "invalid_example", item, "; ".join(problems)))
        else:
            examples.append(item)
    n_read = sum(1 for _ in iter_records(resolve_bfcl_path(src) if fmt == "bfcl" else src))
    write_jsonl(out, examples)
    rpath = rejects_path(out)
    write_jsonl(rpath, rejects)  # always written, so a stale rejects file never outlives a clean run
    return {
        "input": str(src),
        "format": fmt,
        "output": str(out),
        "rejects_file": str(rpath),
        "read": n_read,
        "written": len(examples),
        "rejected": len(rejects),
        "rejected_by_reason": dict(Counter(r["reason"] for r in rejects).most_common()),
        "written_by_kind": dict(Counter(ex["meta"].get("kind", "?") for ex in examples).most_common()),
    }
