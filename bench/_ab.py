"""What bench/prompt_ab.py and bench/toolace_r_ab.py share: the seed set copied from an earlier run, paired
intervals rounded for the record, and writing the JSON record plus its Markdown report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from open_toolace.io import atomic_write_json, read_jsonl, write_jsonl


def copy_seed(ctx: Any, src: Path, name: str, origin: str) -> dict[str, Any]:
    """Copy `src/name` (an earlier run's seed file) to this run's seed/ dir: both runs start from one set."""
    return {"examples": write_jsonl(ctx.path("seed", name), read_jsonl(src / name)), "from": origin}


def round_paired(paired: dict[str, dict]) -> dict[str, dict]:
    """`compare_rows` / `compare_dirs` output for the record: 4 decimals, groups with no items left out."""
    return {k: {**v, "diff": round(v["diff"], 4), "ci95": [round(x, 4) for x in v["ci95"]]}
            for k, v in paired.items() if v["n"]}  # fmt: skip


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def write_result(
    result: dict[str, Any], json_path: str, report_path: str, render: Callable[[dict], str]
) -> None:
    """Write the JSON record and its Markdown report (parent dirs created), print the report."""
    atomic_write_json(json_path, result)
    text = render(result)
    Path(report_path).parent.mkdir(parents=True, exist_ok=True)
    Path(report_path).write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {json_path} and {report_path}")
