"""Model-aware selection (ToolACE-R): train the next round on what the current model still gets wrong.

Each labeled example is answered `k` times by the current model (the invocation prompt of its prompt set,
sampled at `temperature`); every answer is scored against the label by THE scorer (`score_example`: the
example as a BFCL item via `evaluate.dataset.item_from_example`, judged by `evaluate.scoring.score_bfcl`).
The pass rate is the share of right answers. `select` keeps the examples the model has not mastered
(pass rate below a threshold) plus a seeded replay share of the solved ones, so the round does not forget
them; the caller's loop stops when the selection no longer shrinks (`stopped_shrinking`).

    scored = sample_and_score(generator, examples, k=4, prompts="lean")   # answers + verdicts, reusable
    rates = [s.pass_rate for s in scored]                                  # == pass_rates(generator, ...)
    selected, record = select(examples, rates, threshold=0.75, solved_share=0.1, k=4)
    corpus, report = build_refinement(scored, keep_share=0.5)             # refine.corpus, same samples

Examples go in as they will be trained on: rename tools with `training.tasks.with_identifier_names` first
when the mixture does (`TaskMixConfig.identifier_names`), so the answers are sampled over the same names.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from open_toolace.generation import Generator, Sampling
from open_toolace.prompts import render_invocation

Score = Callable[[str, dict], bool]


def score_example(text: str, example: dict) -> bool:
    """Whether `text` answers the labeled `example` right, by the project's one scorer.

    The example becomes a BFCL item (`item_from_example`: each reference call a one-value possible answer,
    omitted optional parameters accepted) and `score_bfcl` judges it with bfcl_eval's `ast_checker`. For a
    no-call label (BFCL's irrelevance) BFCL also credits output that does not decode at all; training data
    must not reward garbage, so here a no-call example is right only when the scorer's `honest_valid` says
    the output is a real abstention (`parse_calls` read it and found no call). Raises `ValueError` for an
    example the scorer cannot take (unlabeled, or a conversation that does not end with a user turn)."""
    from open_toolace.evaluate.dataset import item_from_example
    from open_toolace.evaluate.scoring import score_bfcl

    verdict = score_bfcl(text, item_from_example(example))
    return bool(verdict["valid"]) and bool(verdict.get("honest_valid", True))


@dataclass
class Scored:
    """One example's `k` sampled answers and their verdicts: the input of selection and of the corpus."""

    example: dict
    answers: list[str]
    verdicts: list[bool] = field(default_factory=list)

    @property
    def pass_rate(self) -> float:
        return sum(self.verdicts) / len(self.verdicts) if self.verdicts else 0.0


def _check_labeled(examples: Sequence[dict]) -> None:
    unlabeled = [str(ex.get("id")) for ex in examples if ex.get("calls") is None]
    if unlabeled:
        more = f" (+{len(unlabeled) - 5} more)" if len(unlabeled) > 5 else ""
        raise ValueError(f"selection needs labeled examples; unlabeled: {', '.join(unlabeled[:5])}{more}")


def sample_and_score(
    generator: Generator,
    examples: Sequence[dict],
    k: int = 4,
    temperature: float = 0.7,
    prompts: Mapping | str | None = None,
    score: Score = score_example,
    seed: int = 0,
    max_new_tokens: int = 256,
    progress: bool = False,
) -> list[Scored]:
    """`k` answers per labeled example from one batched `generate` call, each scored against the label.

    Kept separate from `pass_rates` so the refinement corpus is built from the very answers the
    selection judged (no second sampling pass, no drift between the two)."""
    examples = list(examples)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    _check_labeled(examples)
    requests = [render_invocation(ex["tools"], ex["messages"], prompts=prompts) for ex in examples]
    sampling = Sampling(n=k, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    outputs = generator.generate(requests, sampling, progress=progress) if requests else []
    if len(outputs) != len(examples):
        raise RuntimeError(f"generator returned {len(outputs)} answer lists for {len(examples)} requests")
    out = []
    for ex, texts in zip(examples, outputs, strict=True):
        texts = list(texts)
        out.append(Scored(ex, texts, [bool(score(t, ex)) for t in texts]))
    return out


def pass_rates(generator: Generator, examples: Sequence[dict], *args: Any, **kw: Any) -> list[float]:
    """The current model's pass rate on each labeled example: right answers among `k` samples (0, 1/k,
    ..., 1), in example order. What `select` ranks by; `sample_and_score` keeps the answers too. Takes
    `sample_and_score`'s arguments (k, temperature, prompts, score, seed, max_new_tokens), passed on as
    given, so the two share one signature and one set of defaults."""
    return [s.pass_rate for s in sample_and_score(generator, examples, *args, **kw)]


def histogram(rates: Sequence[float], k: int) -> list[int]:
    """How many examples passed 0, 1, ..., k of their `k` samples (k+1 bins). Raises `ValueError` for a
    rate that is not a multiple of 1/k: rates from another `k` would land in the wrong bins."""
    bins = [0] * (k + 1)
    for r in rates:
        j = round(r * k)
        if not 0 <= j <= k or abs(r * k - j) > 1e-6:
            raise ValueError(
                f"pass rate {r} is not j/{k} for an integer 0 <= j <= {k}; pass the k it was sampled with"
            )
        bins[j] += 1
    return bins


def select(
    examples: Sequence[dict],
    rates: Sequence[float],
    threshold: float = 0.75,
    solved_share: float = 0.1,
    seed: int = 0,
    k: int = 4,
) -> tuple[list[dict], dict[str, Any]]:
    """The examples to train the next round on, and a record of the choice.

    Unsolved: pass rate strictly below `threshold` (all kept). Solved: the rest; a seeded choice of
    `round(solved_share * unsolved)` of them is replayed (a share of the UNSOLVED count, capped by the
    solved pool), so the replay shrinks with the unsolved set and a loop that stops when the selection
    stops shrinking (`stopped_shrinking`) is not held up by replay alone. Example order is kept.

    The record: `pool`, `k`, `threshold`, `histogram` (examples by passes 0..k, see `histogram`),
    `unsolved`, `solved`, `solved_kept`, `selected`, `solved_share`, `solved_share_of` ("unsolved")."""
    examples = list(examples)
    if len(rates) != len(examples):
        raise ValueError(f"{len(rates)} pass rates for {len(examples)} examples")
    if solved_share < 0:
        raise ValueError(f"solved_share must be >= 0, got {solved_share}")
    hist = histogram(rates, k)
    unsolved = [i for i, r in enumerate(rates) if r < threshold]
    solved = [i for i, r in enumerate(rates) if r >= threshold]
    n_replay = min(len(solved), round(solved_share * len(unsolved)))
    replay = random.Random(f"select:{seed}").sample(solved, n_replay)
    keep = set(unsolved) | set(replay)
    selected = [ex for i, ex in enumerate(examples) if i in keep]
    record = {
        "pool": len(examples),
        "k": k,
        "threshold": threshold,
        "histogram": hist,
        "unsolved": len(unsolved),
        "solved": len(solved),
        "solved_kept": n_replay,
        "selected": len(selected),
        "solved_share": solved_share,
        "solved_share_of": "unsolved",
    }
    return selected, record


def stopped_shrinking(prev_selected: int, selected: int) -> bool:
    """Whether the iterative loop should stop: this round selected no fewer examples than the last, so
    training on the selection no longer reduces what the model gets wrong."""
    return selected >= prev_selected
