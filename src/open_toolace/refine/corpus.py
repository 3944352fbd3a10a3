"""The self-refinement corpus (ToolACE-R): (conversation, tools, previous answer) -> refined answer.

Built from the answers model-aware selection sampled and scored (`selection.sample_and_score`), so the
model learns to fix its own kind of mistakes:

- a wrong previous answer ("fix") maps to the label, rendered as the invocation target is
  (`render_calls`, pythonic); an unparseable previous answer is a wrong one too (the model must learn to
  repair broken syntax) and is shown as its raw text, capped at `max_previous_chars`;
- a right previous answer ("keep") maps to itself, so the model learns to leave a right answer alone.

`keep_share` is the fraction of keep samples in the corpus; both kinds are subsampled (seeded) to the
largest corpus that comes closest to it, and the report records the share achieved. Identical (example,
shown previous answer) pairs are built once. Samples are the trainer's rows with task `refinement`:

    {"prompt": render_refinement(...), "completion": [{"role": "assistant", "content": target}],
     "task": "refinement", "id": "refinement:<example id>:fix<j>" | "...:keep<j>"}

How a previous answer is shown (`show_previous`) is shared with inference (`refine.adaptive`): the model
is served the prompt it was trained on.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from open_toolace.formats import CallParseError, ToolCall, parse_calls, render_calls
from open_toolace.prompts import render_refinement

TASK = "refinement"
MAX_PREVIOUS_CHARS = 600  # a runaway malformed answer would otherwise fill the context


def show_previous(text: str, max_chars: int = MAX_PREVIOUS_CHARS) -> str:
    """A previous answer as the refinement prompt shows it: its calls re-rendered (`render_calls`,
    pythonic when the names allow, else JSON) when it parses, so prose and tags around a call do not
    distract; the raw text, stripped and cut at `max_chars`, when it does not parse."""
    try:
        return render_calls(parse_calls(text), style="auto")
    except (CallParseError, ValueError):  # unparseable, or a value with no literal form
        return str(text).strip()[:max_chars]


def refinement_request(
    tools: list[Any],
    messages: list[dict],
    previous: str,
    prompts: Mapping | str | None = None,
    max_chars: int = MAX_PREVIOUS_CHARS,
) -> list[dict]:
    """The chat request asking to refine `previous` (raw model text): training and inference use this."""
    return render_refinement(tools, messages, show_previous(previous, max_chars), prompts=prompts)


def _label_text(example: dict) -> str | None:
    try:
        return render_calls([ToolCall.from_dict(c) for c in example["calls"]])
    except ValueError:  # CallParseError too: no pythonic form, as build_invocation skips it
        return None


def _keep_text(answer: str) -> str | None:
    """The answer as an invocation target (pythonic), or None when it has no such form / does not parse."""
    try:
        return render_calls(parse_calls(answer))
    except (CallParseError, ValueError):
        return None


def _share_diff(keeps: int, fixes: int, share: float) -> float:
    return abs(keeps / (keeps + fixes) - share) if keeps + fixes else math.inf


def corpus_counts(n_fix: int, n_keep: int, keep_share: float) -> tuple[int, int]:
    """How many fix and keep samples to take from `n_fix` / `n_keep` candidates: all of the kind that is
    scarce for `keep_share` and as many of the other as comes closest to it (the larger count on a tie).
    When one kind is missing the share cannot be hit and the other kind is taken whole."""
    if not 0.0 <= keep_share <= 1.0:
        raise ValueError(f"keep_share must be in [0, 1], got {keep_share}")
    if n_fix == 0 or n_keep == 0:
        return n_fix, n_keep
    if keep_share == 0.0:
        return n_fix, 0
    if keep_share == 1.0:
        return 0, n_keep
    ideal_keep = keep_share * n_fix / (1.0 - keep_share)
    if ideal_keep <= n_keep:
        options = {(n_fix, min(n_keep, k)) for k in (math.floor(ideal_keep), math.ceil(ideal_keep))}
    else:
        ideal_fix = n_keep * (1.0 - keep_share) / keep_share
        options = {(min(n_fix, f), n_keep) for f in (math.floor(ideal_fix), math.ceil(ideal_fix))}
    return min(options, key=lambda fk: (_share_diff(fk[1], fk[0], keep_share), -(fk[0] + fk[1])))


def _scored_parts(s: Any) -> tuple[dict, list[str], list[bool]]:
    if isinstance(s, Mapping):
        return s["example"], list(s["answers"]), list(s["verdicts"])
    return s.example, list(s.answers), list(s.verdicts)


def build_refinement(
    scored: Sequence[Any],
    keep_share: float = 0.5,
    prompts: Mapping | str | None = None,
    seed: int = 0,
    max_previous_chars: int = MAX_PREVIOUS_CHARS,
) -> tuple[list[dict], dict[str, Any]]:
    """Refinement samples from scored answers (`selection.Scored`, or dicts with `example`, `answers`,
    `verdicts`), and a report. A "right" verdict on an answer that does not parse is treated as wrong
    (BFCL's irrelevance credits undecodable output; the model must not learn to keep garbage).

    Report: `examples`, `answers`, `pairs` (unique (example, shown previous) pairs), `duplicates`,
    `candidates` / `kept` (`{"fix", "keep"}`), `malformed_fix` (kept fixes whose previous answer does not
    parse), `keep_share` (asked), `achieved_keep_share` (None for an empty corpus), `skipped` by reason."""
    skipped: Counter = Counter()
    seen: set[tuple[str, str]] = set()
    fixes: list[tuple[dict, bool]] = []  # (sample, previous was malformed)
    keeps: list[dict] = []
    n_answers = 0
    for s in scored:
        ex, answers, verdicts = _scored_parts(s)
        if len(answers) != len(verdicts):
            raise ValueError(f"{ex.get('id')}: {len(answers)} answers but {len(verdicts)} verdicts")
        n_answers += len(answers)
        if ex.get("calls") is None:
            skipped["refinement:unlabeled"] += len(answers)
            continue
        label = _label_text(ex)
        for j, (answer, right) in enumerate(zip(answers, verdicts, strict=True)):
            shown = show_previous(answer, max_previous_chars)
            pair = (str(ex["id"]), shown)
            if pair in seen:
                skipped["refinement:duplicate_pair"] += 1
                continue
            seen.add(pair)
            prompt = render_refinement(ex["tools"], ex["messages"], shown, prompts=prompts)
            malformed = not _parses(answer)
            if right and not malformed:
                keep = _keep_text(answer)
                if keep is None:  # no pythonic form: no invocation target could be written either
                    skipped["refinement:keep_not_pythonic"] += 1
                else:
                    keeps.append(_sample(f"{TASK}:{ex['id']}:keep{j}", prompt, keep))
                continue
            if label is None:
                skipped["refinement:unrenderable_label"] += 1
                continue
            if shown == label:  # the label itself fails the scorer: an identity "fix" teaches nothing
                skipped["refinement:label_scored_wrong"] += 1
                continue
            fixes.append((_sample(f"{TASK}:{ex['id']}:fix{j}", prompt, label), malformed))
    n_fix, n_keep = corpus_counts(len(fixes), len(keeps), keep_share)
    rng = random.Random(f"{TASK}:{seed}")
    fix_idx = set(rng.sample(range(len(fixes)), n_fix))
    keep_idx = set(rng.sample(range(len(keeps)), n_keep))
    kept_fixes = [f for i, f in enumerate(fixes) if i in fix_idx]
    samples = [f for f, _ in kept_fixes] + [k for i, k in enumerate(keeps) if i in keep_idx]
    total = n_fix + n_keep
    report = {
        "examples": len(scored),
        "answers": n_answers,
        "pairs": len(seen),
        "duplicates": skipped.get("refinement:duplicate_pair", 0),
        "candidates": {"fix": len(fixes), "keep": len(keeps)},
        "kept": {"fix": n_fix, "keep": n_keep},
        "malformed_fix": sum(1 for _, bad in kept_fixes if bad),
        "keep_share": keep_share,
        "achieved_keep_share": round(n_keep / total, 4) if total else None,
        "skipped": dict(sorted((k, v) for k, v in skipped.items() if v)),
    }
    return samples, report


def _parses(text: str) -> bool:
    try:
        parse_calls(text)
    except CallParseError:
        return False
    return True


def _sample(id: str, prompt: list[dict], completion: str) -> dict:
    return {
        "prompt": prompt,
        "completion": [{"role": "assistant", "content": completion}],
        "task": TASK,
        "id": id,
    }
