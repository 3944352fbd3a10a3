"""A round's training set: full triplets from each verified item, plus replay of the seed mixture.

Each kept item (query + its generated tools + the voted calls) yields
  (a) an invocation sample: the query with its tools and distractors drawn from the tool pool (the seed's
      tools plus every tool generated this round), target the voted calls;
  (b) an abstention sample: the query with tools that cannot serve it (pool tools, never its own and never
      a look-alike of the needed ones), target `[]` (`mix.abstention_share` of the items, 1.0 by default
      in rounds, so no kept item teaches only "one tool -> call it");
  (c) its tool-generation sample: query -> the tools it called (minimal: used parameters + at most
      `mix.tool_generation_optional` optional ones).
Replay draws the configured share of the final set from the seed mixture; `replay_balance="calls"` draws
multi-call answers first, as many as bring the set's invocation targets to the seed mixture's share of
answers with two or more calls (a round keeps mostly single calls, and trained on them alone a model
unlearns parallel answers). The report gives the count and share of each kind (`invocation`,
`abstention`, `tool_generation`, `replay`) and the multi-call share of invocation targets for the audit.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from open_toolace.evolve.common import Item
from open_toolace.formats import CallParseError, parse_calls
from open_toolace.training import tasks as T
from open_toolace.training.mixture import TaskMixConfig, tool_generation_samples

KINDS = ("invocation", "abstention", "tool_generation", "replay")
REPLAY_BALANCE = ("off", "calls")


def target_calls(sample: dict) -> int:
    """Calls in an invocation sample's target (0 for other tasks and for a target that does not parse)."""
    if sample.get("task") != "invocation":
        return 0
    try:
        return len(parse_calls(sample["completion"][-1]["content"]))
    except (CallParseError, KeyError, IndexError, TypeError):
        return 0


def multi_call_share(samples: Sequence[dict]) -> float:
    """Share of invocation samples whose target has two or more calls."""
    inv = [s for s in samples if s.get("task") == "invocation"]
    return sum(target_calls(s) >= 2 for s in inv) / len(inv) if inv else 0.0


def draw_replay(
    replay: Sequence[dict], n: int, new: Sequence[dict], rng: random.Random, balance: str
) -> list:
    """`n` replay samples at random; with `balance="calls"` the multi-call ones first, as many as bring
    `new` + replay to the replay pool's multi-call share of invocation targets (all of them if short)."""
    if balance not in REPLAY_BALANCE:
        raise ValueError(f"replay_balance must be one of {REPLAY_BALANCE}, got {balance!r}")
    pool = list(replay)
    if balance == "off" or n == 0:
        return rng.sample(pool, n)
    target = multi_call_share(pool)
    inv = [s for s in new if s.get("task") == "invocation"]
    have = sum(target_calls(s) >= 2 for s in inv)
    multi = [i for i, s in enumerate(pool) if target_calls(s) >= 2]
    # (have + x) / (len(inv) + x) >= target  <=>  x >= (target * len(inv) - have) / (1 - target)
    need = len(multi) if target >= 1 else math.ceil(max(0.0, target * len(inv) - have) / (1 - target))
    first = rng.sample(multi, min(need, n, len(multi)))
    chosen = set(first)
    rest = rng.sample([i for i in range(len(pool)) if i not in chosen], n - len(first))
    return [pool[i] for i in first + rest]


def sample_kind(sample: dict) -> str:
    """`replay`, `abstention` (an invocation sample whose target is `[]`), or the sample's task."""
    if str(sample.get("id", "")).startswith("replay:"):
        return "replay"
    if sample.get("task") == "invocation" and sample["completion"][0]["content"].strip() == T.NO_CALL:
        return "abstention"
    return str(sample.get("task", "?"))


def build_triplets(
    items: Sequence[Item],
    replay: Sequence[dict] = (),
    replay_share: float = 0.3,
    mix: TaskMixConfig | None = None,
    distractor_pool: Sequence[Any] = (),
    tasks: Sequence[str] = ("tool_generation", "invocation"),
    seed: int = 0,
    replay_balance: str = "off",
) -> tuple[list[dict], dict[str, Any]]:
    """Training samples from the round's verified items (module docstring), shuffled under `seed`.

    `mix` is a `mixture.TaskMixConfig` (distractors, abstention share, max tools; its seed is replaced by
    `seed`). `distractor_pool`: tools (dicts or `Tool`) the invocation and abstention samples draw from,
    besides the items' own. `replay` is a list of already-built training samples (the bootstrap mixture);
    `replay_share` is the share of the *final* set drawn from it (0.3 -> 30 % replay), which fights
    forgetting; `replay_balance` chooses which (`draw_replay`). Returns `(samples, report)`: counts per
    task, per kind and their shares, the multi-call share of invocation targets (of the set and of the
    replay pool), and every item a task builder skipped, by reason."""
    mix = dataclasses.replace(mix or TaskMixConfig(), seed=seed)
    items = [T.with_identifier_names(it) for it in items] if mix.identifier_names else list(items)
    skipped: Counter[str] = Counter()
    new: list[dict] = []
    if items and "tool_generation" in tasks:
        new += tool_generation_samples(items, mix, skipped)
    if items and "invocation" in tasks:
        new += T.build_invocation(items, T.collect_tools(items, distractor_pool), mix, skipped=skipped)
    if mix.dedupe:
        new = T.dedupe(new)
    rng = random.Random(f"replay:{seed}")
    n_replay = 0
    if replay and new and 0 < replay_share < 1:
        n_replay = min(len(replay), round(len(new) * replay_share / (1 - replay_share)))
    old = [
        dict(s, id=f"replay:{s.get('id')}") for s in draw_replay(replay, n_replay, new, rng, replay_balance)
    ]
    samples = new + old
    rng.shuffle(samples)
    counts = dict(sorted(Counter(s.get("task", "?") for s in new).items()))
    counts["replay"] = len(old)
    kinds = Counter(sample_kind(s) for s in samples)
    n = len(samples)
    return samples, {
        "tasks": counts,
        "kinds": {k: kinds.get(k, 0) for k in KINDS},
        "shares": {k: round(kinds.get(k, 0) / n, 4) if n else 0.0 for k in KINDS},
        "total": n,
        "multi_call_share": {
            "set": round(multi_call_share(samples), 4),
            "replay_pool": round(multi_call_share(replay), 4),
        },
        "skipped": dict(sorted(skipped.items())),
    }
