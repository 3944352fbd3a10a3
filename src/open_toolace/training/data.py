"""Prompt-completion samples -> token ids + labels, with the truncation accounting TRL does not report.

We tokenize ourselves (the same way TRL's SFTTrainer does: chat template on the prompt with the generation
prompt, and on prompt + completion; the completion starts where the two diverge) because:
- a sample whose completion is cut away by `max_length` has no loss token and gives NaN in a hand loop;
  TRL silently filters it. We drop it too, but count it and name it in the run's metrics;
- TRL's padding-free mode needs already-truncated inputs (it refuses `max_length` without packing).
The labels are -100 on prompt tokens, so the loss is on the completion only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from open_toolace.io import DataFileError, iter_jsonl

IGNORE = -100
MAX_LISTED_IDS = 50  # dropped sample ids listed in the metrics (the count is always exact)


def validate_sample(s: Any) -> str | None:
    """Why `s` is not a conversational prompt-completion sample, or None if it is."""
    if not isinstance(s, dict):
        return f"a {type(s).__name__}, not an object"
    for key in ("prompt", "completion"):
        msgs = s.get(key)
        if not isinstance(msgs, list) or not msgs:
            return f"'{key}' must be a non-empty list of chat messages"
        if not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in msgs
        ):
            return f"'{key}' messages need string 'role' and 'content'"
    if s["completion"][-1]["role"] != "assistant":
        return "the completion must end with an assistant message"
    return None


def load_samples(path: str | Path) -> list[dict]:
    """Read a samples JSONL (as written by `toolace train build`); a malformed row is an error naming its line."""
    out = []
    for lineno, obj in iter_jsonl(path):
        problem = validate_sample(obj)
        if problem:
            raise DataFileError(f"{path}:{lineno}: not a prompt-completion sample: {problem}")
        obj.setdefault("id", f"line{lineno}")
        obj.setdefault("task", "unknown")
        out.append(obj)
    if not out:
        raise DataFileError(f"{path}: no samples")
    return out


def _ids(encoded: Any) -> list[int]:
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


def tokenize_sample(sample: dict, tokenizer: Any, max_length: int | None = None) -> dict:
    """`{"input_ids", "labels", "n_prompt", "n_full"}`; labels are -100 on the prompt, cut to max_length."""
    prompt = _ids(tokenizer.apply_chat_template(sample["prompt"], tokenize=True, add_generation_prompt=True))
    full = _ids(tokenizer.apply_chat_template(sample["prompt"] + sample["completion"], tokenize=True))
    n_prompt = 0  # common prefix: templates may render the prompt alone slightly differently
    for a, b in zip(prompt, full, strict=False):
        if a != b:
            break
        n_prompt += 1
    labels = [IGNORE] * n_prompt + full[n_prompt:]
    ids = full[:max_length] if max_length else full
    return {"input_ids": ids, "labels": labels[: len(ids)], "n_prompt": n_prompt, "n_full": len(full)}


def prepare_samples(
    samples: Iterable[dict], tokenizer: Any, max_length: int | None
) -> tuple[list[dict], dict]:
    """Tokenize all samples; drop (and count) those with no completion token left after truncation.

    Returns the rows (`input_ids`, `labels`, `length`, `id`, `task`) and a report for the metrics JSON.
    """
    rows: list[dict] = []
    dropped: list[str] = []
    dropped_by_task: Counter = Counter()
    by_task: Counter = Counter()
    cut = tokens = loss_tokens = 0
    for s in samples:
        t = tokenize_sample(s, tokenizer, max_length)
        n_loss = sum(1 for x in t["labels"] if x != IGNORE)
        if n_loss == 0:
            dropped.append(s["id"])
            dropped_by_task[s["task"]] += 1
            continue
        cut += int(t["n_full"] > len(t["input_ids"]))
        tokens += len(t["input_ids"])
        loss_tokens += n_loss
        by_task[s["task"]] += 1
        rows.append(
            {
                "input_ids": t["input_ids"],
                "labels": t["labels"],
                "length": len(t["input_ids"]),
                "id": s["id"],
                "task": s["task"],
            }
        )
    lengths = sorted(r["length"] for r in rows)
    report = {
        "samples_in": len(rows) + len(dropped),
        "samples": len(rows),
        "by_task": dict(sorted(by_task.items())),
        "dropped_truncated": len(dropped),
        "dropped_truncated_by_task": dict(sorted(dropped_by_task.items())),
        "dropped_truncated_ids": dropped[:MAX_LISTED_IDS],
        "truncated_kept": cut,
        "tokens": tokens,
        "loss_tokens": loss_tokens,
        "max_length": max_length,
        "length_p50": lengths[len(lengths) // 2] if lengths else 0,
        "length_max": lengths[-1] if lengths else 0,
    }
    return rows, report
