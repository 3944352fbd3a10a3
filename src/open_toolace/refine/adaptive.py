"""Adaptive self-refinement at inference (ToolACE-R): the model re-reads its own answer until it stops
changing it.

After the first answer (step 0) every item is refined: the refinement prompt (`corpus.refinement_request`,
the prompt the model was trained on) shows the conversation, the tools and the previous answer, and the
model answers again. An item stops when two consecutive answers are equal under `key` (the normalized call
form) or after `n_steps`; each step is ONE batched `generate` call over the items still active. A
refinement output that does not parse keeps the previous answer and is counted (`malformed`); the answer
is then unchanged, so the item stops there too (greedy decoding would write the same output again).

    result = refine(generator, [{"tools": ex["tools"], "messages": ex["messages"]} for ex in examples],
                    first_answers, n_steps=3, prompts="lean")
    result.final              # the answer per item
    result.by_step[s][i]      # item i's answer after step s (0: the first answer); stopped items carry on
    verdicts = [[score(a, ex) for a, ex in zip(step, examples)] for step in result.by_step]
    transitions(verdicts)     # wrong_to_right / right_to_wrong / ... first -> final, and per step

For a BFCL item the context is `{"tools": evaluate.bfcl.prompt_functions(item), "messages":
evaluate.bfcl.item_messages(item)}`: what its invocation request shows. Model output is data: it is read
with `formats.parse_calls` (ast/json), never executed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from open_toolace.formats import CallParseError, normalize_calls, parse_calls
from open_toolace.generation import GREEDY, Generator, Sampling
from open_toolace.refine.corpus import MAX_PREVIOUS_CHARS, refinement_request

Key = Callable[[str], Any]


def canonical_form(text: str) -> str:
    """The normalized call form of an answer (`parse_calls` + `formats.normalize_calls`: call order,
    `1 == 1.0`, BFCL's string standardization, date surface forms do not matter), so an equal answer
    written differently counts as a repeat. Raises `CallParseError` when the text does not parse."""
    return normalize_calls(parse_calls(text))


def _key_or_none(key: Key, text: str) -> Any:
    """`key(text)`, or None when the answer is malformed (the key raises or returns None)."""
    try:
        return key(text)
    except (CallParseError, ValueError):
        return None


def _context(c: Any) -> tuple[list[Any], list[dict]]:
    if isinstance(c, Mapping):
        return list(c["tools"]), list(c["messages"])
    tools, messages = c
    return list(tools), list(messages)


@dataclass
class RefineResult:
    """What adaptive refinement did, per item and per step (see the module doc)."""

    final: list[str]
    by_step: list[list[str]]  # n_steps + 1 rows: row 0 the first answers, row s the answers after step s
    steps: list[int]  # refinement steps each item took (0..n_steps)
    stop_reason: list[str]  # "repeat", "malformed", "max_steps" (or "none" when n_steps == 0)
    malformed: int = 0  # refinement outputs that did not parse (each kept the previous answer)
    malformed_by_step: list[int] = field(default_factory=list)
    active_by_step: list[int] = field(default_factory=list)  # items refined at each step (1..n_steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "final": self.final,
            "by_step": self.by_step,
            "steps": self.steps,
            "stop_reason": self.stop_reason,
            "malformed": self.malformed,
            "malformed_by_step": self.malformed_by_step,
            "active_by_step": self.active_by_step,
        }


def refine(
    generator: Generator,
    requests_context: Sequence[Any],
    first_answers: Sequence[str],
    n_steps: int = 3,
    prompts: Mapping | str | None = None,
    key: Key = canonical_form,
    sampling: Sampling = GREEDY,
    max_previous_chars: int = MAX_PREVIOUS_CHARS,
    progress: bool = False,
) -> RefineResult:
    """Refine every item's answer until it repeats (under `key`) or `n_steps` steps, batched per step.

    `requests_context[i]`: item i's `{"tools", "messages"}` (or a `(tools, messages)` pair), as its first
    answer was asked for. `key(text)` normalizes an answer; an answer it cannot normalize (it raises
    `CallParseError`/`ValueError` or returns None) is malformed. A malformed FIRST answer is refined like
    any other (the model is trained to repair one) and is not counted in `malformed`."""
    contexts = [_context(c) for c in requests_context]
    current = [str(a) for a in first_answers]
    if len(contexts) != len(current):
        raise ValueError(f"{len(contexts)} contexts for {len(current)} first answers")
    if n_steps < 0:
        raise ValueError(f"n_steps must be >= 0, got {n_steps}")
    sampling = sampling.with_(n=1)
    keys = [_key_or_none(key, a) for a in current]
    by_step = [list(current)]
    steps = [0] * len(current)
    reason = ["max_steps" if n_steps else "none"] * len(current)
    active = list(range(len(current)))
    malformed_by_step: list[int] = []
    active_by_step: list[int] = []
    for _ in range(n_steps):
        active_by_step.append(len(active))
        bad = 0
        if active:
            requests = [
                refinement_request(*contexts[i], current[i], prompts=prompts, max_chars=max_previous_chars)
                for i in active
            ]
            outs = generator.generate(requests, sampling, progress=progress)
            if len(outs) != len(active):
                raise RuntimeError(f"generator returned {len(outs)} answers for {len(active)} requests")
            still = []
            for i, texts in zip(active, outs, strict=True):
                steps[i] += 1
                text = texts[0]
                new_key = _key_or_none(key, text)
                if new_key is None:  # keep the previous answer; unchanged, so the item stops
                    bad += 1
                    reason[i] = "malformed"
                    continue
                repeat = keys[i] is not None and new_key == keys[i]
                current[i], keys[i] = text, new_key
                if repeat:
                    reason[i] = "repeat"
                else:
                    still.append(i)
            active = still
        malformed_by_step.append(bad)
        by_step.append(list(current))
    return RefineResult(
        final=list(current),
        by_step=by_step,
        steps=steps,
        stop_reason=reason,
        malformed=sum(malformed_by_step),
        malformed_by_step=malformed_by_step,
        active_by_step=active_by_step,
    )


def _counts(before: Sequence[bool], after: Sequence[bool]) -> dict[str, int]:
    out = {"wrong_to_right": 0, "right_to_wrong": 0, "right_to_right": 0, "wrong_to_wrong": 0}
    for b, a in zip(before, after, strict=True):
        out[f"{'right' if b else 'wrong'}_to_{'right' if a else 'wrong'}"] += 1
    return out


def transitions(step_verdicts: Sequence[Sequence[bool]]) -> dict[str, Any]:
    """How refinement moved verdicts: `step_verdicts[s][i]` is whether item i's answer after step s is
    right (row 0: the first answer; e.g. `result.by_step` scored). The top-level counts compare the first
    answer with the last row (`wrong_to_right` is what refinement fixed, `right_to_wrong` what it broke);
    `by_step` has the same counts for each step against the one before; `accuracy_by_step` per row."""
    rows = [[bool(v) for v in row] for row in step_verdicts]
    if not rows:
        raise ValueError("transitions needs at least one row of verdicts")
    if any(len(r) != len(rows[0]) for r in rows):
        raise ValueError("every step must have a verdict for every item")
    n = len(rows[0])
    return {
        **_counts(rows[0], rows[-1]),
        "items": n,
        "accuracy_by_step": [round(sum(r) / n, 4) if n else None for r in rows],
        "by_step": [_counts(rows[s - 1], rows[s]) for s in range(1, len(rows))],
    }
