"""A round's training set: full triplets from each verified item, plus replay of the seed mixture.

Each kept item (query + its generated tools + the voted calls) yields
  (a) an invocation sample: the query with its tools and distractors drawn from the tool pool (the seed's
      tools plus every tool generated this round), target the voted calls;
  (b) an abstention sample: the query with tools that cannot serve it (pool tools, never its own and never
      a look-alike of the needed ones), target `[]` (`mix.abstention_share` of the items, 1.0 by default
      in rounds, so no kept item teaches only "one tool -> call it");
  (c) its tool-generation sample: query -> the tools it called (minimal: used parameters + at most
      `mix.tool_generation_optional` optional ones).
Replay draws the configured share of the final set from the seed mixture. The report gives the count and
share of each kind (`invocation`, `abstention`, `tool_generation`, `replay`) for the round's audit.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from open_toolace.evolve.common import Item
from open_toolace.training import tasks as T
from open_toolace.training.mixture import TaskMixConfig, tool_generation_samples

KINDS = ("invocation", "abstention", "tool_generation", "replay")


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
) -> tuple[list[dict], dict[str, Any]]:
    """Training samples from the round's verified items (module docstring), shuffled under `seed`.

    `mix` is a `mixture.TaskMixConfig` (distractors, abstention share, max tools; its seed is replaced by
    `seed`). `distractor_pool`: tools (dicts or `Tool`) the invocation and abstention samples draw from,
    besides the items' own. `replay` is a list of already-built training samples (the bootstrap mixture);
    `replay_share` is the share of the *final* set drawn from it (0.3 -> 30 % replay), which fights
    forgetting. Returns `(samples, report)`: counts per task, per kind and their shares, and every item a
    task builder skipped, by reason."""
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
    old = [dict(s, id=f"replay:{s.get('id')}") for s in rng.sample(list(replay), n_replay)]
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
        "skipped": dict(sorted(skipped.items())),
    }
