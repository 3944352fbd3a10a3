"""The sub-task mixture: how many samples of each task (`training.tasks`) go into the training set.

`TaskMixConfig` holds every knob (`toolace train build --config ...`); `build_mixture` builds the three tasks
from internal examples and mixes them by per-task ratios and caps, then, with `token_shares`, by the tokens
the model is supervised on: a 300-token tool stub and a 25-token call list are not worth one "example" each.
ToolACE-R's `refinement` samples (`refine.corpus.build_refinement`) are not built here but may be mixed in
(`build_mixture(..., refinement=samples)`); `token_report` counts the supervised tokens of any sample file.

    samples, report = build_mixture(examples, TaskMixConfig(token_shares={"invocation": 0.6, ...}),
                                    count_tokens=lambda s: len(tok(s).input_ids))
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from open_toolace.formats.tools import tool_record
from open_toolace.prompts import PROMPT_SETS
from open_toolace.training.tasks import (
    NO_CALL,
    REFINEMENT,
    SAMPLE_TASKS,
    TASKS,
    build_adaption,
    build_invocation,
    build_tool_generation,
    collect_tools,
    dedupe,
    identifier_name,
    with_identifier_names,
)

# Where the supervised tokens go by default: invocation is what BFCL scores and what a round's vote trains;
# by example counts, tool definitions (100-300 tokens each) took 86% of the demo's supervision.
DEFAULT_TOKEN_SHARES = {"invocation": 0.6, "tool_generation": 0.25, "adaption": 0.15}


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass
class TaskMixConfig:
    """How the sub-task mixture is built (`toolace train build --config ...`)."""

    adaption_ratio: float = _opt(
        1.0,
        "share of the deduplicated adaption pool to keep: 0 drops the task, 0.5 keeps a random half, "
        "2.0 repeats every sample twice (upsampling a small task)",
    )
    adaption_cap: int | None = _opt(None, "at most this many adaption samples (null: no cap)")
    tool_generation_ratio: float = _opt(1.0, "as adaption_ratio, for tool generation")
    tool_generation_cap: int | None = _opt(None, "at most this many tool-generation samples")
    invocation_ratio: float = _opt(1.0, "as adaption_ratio, for invocation")
    invocation_cap: int | None = _opt(None, "at most this many invocation samples")
    refinement_ratio: float = _opt(
        1.0,
        "as adaption_ratio, for refinement samples passed to build_mixture (refine.corpus; none are built)",
    )
    refinement_cap: int | None = _opt(None, "at most this many refinement samples")
    distractors_min: int = _opt(0, "fewest distractor tools added to an invocation prompt")
    distractors_max: int = _opt(3, "most distractor tools added (uniform in [min, max])")
    solo_share: float = _opt(
        0.0,
        "share of the examples with one needed tool shown with that tool alone (no unused tools, no "
        "distractors), as in BFCL simple / live_simple; without it a one-tool prompt is mostly an abstention",
    )
    abstention_share: float = _opt(
        0.2,
        "extra no-call samples, as a share of the examples that have calls: the needed tool(s) are removed "
        "from the list and the answer becomes []",
    )
    abstention_keep_other_tools: bool = _opt(
        True, "abstention prompts keep the example's unused tools (hard near-misses) besides distractors"
    )
    abstention_match_tools: bool = _opt(
        False,
        "an abstention prompt shows as many tools as the call prompt of its example did (the needed tools "
        "replaced by unrelated ones), so the number of tools says nothing about whether to call",
    )
    abstention_siblings: bool = _opt(
        False,
        "the tools added to an abstention prompt come first from the needed tools' siblings (tools listed "
        "beside them where they are called in other examples: a mortgage tool for a compound-interest "
        "request), then from unrelated ones; the near miss a model must tell apart from a fit",
    )
    alias_share: float = _opt(
        0.0,
        "share of the call samples whose called tools get an opaque name that shares no word with the "
        "request (svc.run_job, CCI_v2, TQ_4821; description unchanged; sample id ends in :alias): without "
        "it a request that shares no word with a tool's name is mostly an abstention (training.aliases); at 0.5 "
        "the embedded model lost irrelevance -31 and multiple -7 points (docs/bootstrap_levers.md)",
    )
    max_tools: int = _opt(8, "most tools in one invocation / tool-generation sample")
    tool_generation_extra: int | None = _opt(
        None,
        "most tools besides the needed ones in a tool-generation target (null: all, up to max_tools); 0 "
        "teaches exactly the tools the query needs, the short target a small model can learn",
    )
    tool_generation_optional: int | None = _opt(
        2,
        "tool-generation targets keep the parameters the query's calls use plus this many other optional "
        "ones, and no regex patterns (null: the tools as they are); the minimal tool a small model can learn",
    )
    source_cap: int | None = _opt(
        None,
        "at most this many examples per source (meta.source) feed tool generation and invocation (a seeded "
        "choice), so one large dataset does not dominate; adaption and distractors use all",
    )
    adaption_name_hint: bool = _opt(True, "give the tool name in the adaption prompt")
    prompt_set: str = _opt(
        "lean",
        "prompt set the samples are rendered in: lean (Python signatures, a short instruction: better at "
        "the same training tokens, docs/bootstrap_levers.md) or bfcl (JSON tools, BFCL's instruction); the "
        "model learns it and is served with it",
    )
    identifier_names: bool = _opt(
        True,
        "rewrite tool/call names that are not Python identifiers ('Market Trends API' -> 'Market_Trends_API') "
        "so every call has the pythonic form the invocation prompt asks for",
    )
    token_shares: dict[str, float] | None = field(
        default_factory=lambda: dict(DEFAULT_TOKEN_SHARES),
        metadata={
            "help": "share of the supervised (completion) tokens each task gets (default: invocation 0.6, "
            "tool_generation 0.25, adaption 0.15); applied after ratios and caps: each task keeps a seeded "
            "choice of its samples up to its share of a total set by the scarcest task (null: mix by counts)"
        },
    )
    supervised_tokens: int | None = _opt(
        None, "with token_shares: at most this many supervised tokens in all (null: what the pools allow)"
    )
    shuffle_tools: bool = _opt(True, "shuffle the tool order inside each invocation prompt")
    shuffle: bool = _opt(True, "shuffle the final mixture")
    dedupe: bool = _opt(True, "drop samples whose prompt+completion repeat (per task)")
    seed: int = _opt(0, "seed of every random choice (distractors, abstentions, shuffles)")

    def __post_init__(self) -> None:
        if self.prompt_set not in PROMPT_SETS:
            raise ValueError(f"prompt_set must be one of {', '.join(PROMPT_SETS)}, got {self.prompt_set!r}")
        if not 0 <= self.distractors_min <= self.distractors_max:
            raise ValueError(
                f"need 0 <= distractors_min <= distractors_max, got {self.distractors_min}, {self.distractors_max}"
            )
        if not 0.0 <= self.solo_share <= 1.0:
            raise ValueError(f"solo_share must be in [0, 1], got {self.solo_share}")
        if not 0.0 <= self.alias_share <= 1.0:
            raise ValueError(f"alias_share must be in [0, 1], got {self.alias_share}")
        if not 0.0 <= self.abstention_share <= 1.0:
            raise ValueError(f"abstention_share must be in [0, 1], got {self.abstention_share}")
        for task in SAMPLE_TASKS:
            if getattr(self, f"{task}_ratio") < 0:
                raise ValueError(f"{task}_ratio must be >= 0")
        if self.max_tools < 1:
            raise ValueError("max_tools must be >= 1")
        if self.tool_generation_extra is not None and self.tool_generation_extra < 0:
            raise ValueError("tool_generation_extra must be >= 0 or null")
        if self.token_shares is not None:
            bad = set(self.token_shares) - set(SAMPLE_TASKS)
            if bad or any(v < 0 for v in self.token_shares.values()) or not sum(self.token_shares.values()):
                raise ValueError(
                    f"token_shares: tasks among {', '.join(SAMPLE_TASKS)}, shares >= 0 with a positive sum; "
                    f"got {self.token_shares}"
                )


def _apply_ratio(samples: list[dict], ratio: float, cap: int | None, rng: random.Random) -> list[dict]:
    whole, frac = int(ratio), ratio - int(ratio)
    out = []
    for r in range(whole):  # repeats keep distinct ids so the trainer can report them
        out += samples if r == 0 else [{**s, "id": f"{s['id']}#r{r}"} for s in samples]
    out += rng.sample(samples, round(frac * len(samples)))
    if cap is not None and len(out) > cap:
        out = rng.sample(out, cap)
    return out


def _source(ex: dict) -> str:
    return str((ex.get("meta") or {}).get("source", "unknown"))


def cap_per_source(examples: list[dict], cap: int | None, seed: int = 0) -> list[dict]:
    """At most `cap` examples of each `meta.source` (a seeded choice, file order kept)."""
    if cap is None:
        return examples
    by_source: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        by_source.setdefault(_source(ex), []).append(i)
    rng = random.Random(f"source_cap:{seed}")
    keep: set[int] = set()
    for idx in by_source.values():
        keep.update(idx if len(idx) <= cap else rng.sample(idx, cap))
    return [ex for i, ex in enumerate(examples) if i in keep]


def estimate_tokens(text: str) -> int:
    """~4 characters a token: the supervised-token count when no tokenizer is given (code and English)."""
    return len(text) // 4 + 1


def token_counter(model: str) -> Callable[[str], int]:
    """`count_tokens` with `model`'s tokenizer (`models.load_tokenizer` spec), special tokens not added."""
    from open_toolace.models import load_tokenizer

    tok = load_tokenizer(model)
    return lambda text: len(tok(text, add_special_tokens=False).input_ids)


def supervised_tokens(sample: dict, count_tokens: Callable[[str], int]) -> int:
    """Tokens the loss is computed on: the completion (+1 for the end-of-turn token the trainer appends)."""
    return sum(count_tokens(m["content"]) for m in sample["completion"]) + 1


def token_report(
    samples: Iterable[dict], count_tokens: Callable[[str], int], tasks: Iterable[str] = SAMPLE_TASKS
) -> dict[str, dict[str, Any]]:
    """Supervised tokens per task and their shares, over `tasks` (each listed, 0 when absent) and any other
    task the samples hold: the same numbers `build_mixture` reports, for a sample file of any origin."""
    samples = list(samples)
    order = list(dict.fromkeys([*tasks, *(s["task"] for s in samples)]))
    sup = dict.fromkeys(order, 0)
    for s in samples:
        sup[s["task"]] += supervised_tokens(s, count_tokens)
    total = sum(sup.values())
    return {
        "supervised_tokens": {**sup, "total": total},
        "supervised_token_shares": {t: round(n / max(1, total), 4) for t, n in sup.items()},
    }


def by_token_shares(
    kept: dict[str, list[dict]],
    shares: dict[str, float],
    count_tokens: Callable[[str], int],
    total: int | None = None,
) -> tuple[dict[str, list[dict]], int]:
    """Each task's samples, in their (seeded) order, up to its share of the total supervised tokens.

    The total is the largest one every task can fill (`pool tokens / share` of the scarcest task), capped
    by `total`; tasks without a share are dropped. Returns the chosen samples and the total aimed at."""
    norm = {t: shares.get(t, 0.0) / sum(shares.values()) for t in kept}
    tokens = {t: [supervised_tokens(s, count_tokens) for s in kept[t]] for t in kept}
    fill = [sum(tokens[t]) / norm[t] for t in kept if norm[t] > 0]
    aim = int(min(fill + ([total] if total else [])))
    out = {}
    for t in kept:
        budget, used, chosen = norm[t] * aim, 0, []
        for s, n in zip(kept[t], tokens[t], strict=True):
            if used + n / 2 > budget:  # stop where the next sample would overshoot more than it fills
                break
            chosen.append(s)
            used += n
        out[t] = chosen
    return out, aim


def tool_generation_samples(examples: Iterable[dict], cfg: TaskMixConfig, skipped: Counter) -> list[dict]:
    """Tool-generation samples as `cfg` sets them (max tools, extra tools, optional parameters, prompt set):
    one reading of the config for the bootstrap mixture and a round's triplets, so the two stay alike."""
    return build_tool_generation(
        examples,
        max_tools=cfg.max_tools,
        extra=cfg.tool_generation_extra,
        optional=cfg.tool_generation_optional,
        skipped=skipped,
        prompts=cfg.prompt_set,
    )


def build_mixture(
    examples: Iterable[dict],
    cfg: TaskMixConfig | None = None,
    *,
    tools: Iterable[Any] = (),
    count_tokens: Callable[[str], int] | None = None,
    refinement: Iterable[dict] = (),
) -> tuple[list[dict], dict[str, Any]]:
    """All three tasks from `examples` (+ extra tool docs for adaption and the distractor pool), mixed by cfg.

    `count_tokens(text)`: the model's tokenizer for the supervised-token counts (default: `estimate_tokens`).
    `refinement`: ready ToolACE-R refinement samples (`refine.corpus.build_refinement`, rendered in the same
    prompt set) mixed in as a fourth task (dedupe, `refinement_ratio` / `_cap`, its token share); with
    `token_shares` they need a `refinement` share, else they would all be dropped (a ValueError says so).
    Returns `(samples, report)`; the report holds per-task counts (built, after dedupe, kept), supervised
    tokens and their shares per task, and skip reasons.
    """
    count = count_tokens or estimate_tokens
    cfg = cfg or TaskMixConfig()
    examples = list(examples)
    refinement = list(refinement)
    if any(s.get("task") != REFINEMENT for s in refinement):
        raise ValueError(f"build_mixture(refinement=...) takes samples of task {REFINEMENT!r} only")
    if refinement and cfg.token_shares and REFINEMENT not in cfg.token_shares:
        raise ValueError(
            "token_shares has no 'refinement' share, so every refinement sample would be dropped; "
            "give it one (e.g. token_shares.refinement=0.2) or mix by counts (token_shares: null)"
        )
    tasks = (*TASKS, REFINEMENT) if refinement else TASKS
    extra_tools = [tool_record(t) for t in tools]
    if cfg.identifier_names:
        examples = [with_identifier_names(ex) for ex in examples]
        extra_tools = [{**t, "name": identifier_name(t["name"])} for t in extra_tools]
    skipped: Counter = Counter()
    pool = collect_tools(examples, extra_tools)
    labeled = cap_per_source(examples, cfg.source_cap, cfg.seed)
    built = {
        "adaption": build_adaption(
            list(examples) + extra_tools,
            name_hint=cfg.adaption_name_hint,
            skipped=skipped,
            prompts=cfg.prompt_set,
        ),
        "tool_generation": tool_generation_samples(labeled, cfg, skipped),
        "invocation": build_invocation(labeled, pool, cfg, skipped=skipped),
        REFINEMENT: refinement,
    }
    kept: dict[str, list[dict]] = {}
    counts: dict[str, dict[str, int]] = {}
    for task in tasks:
        rng = random.Random(f"{task}:{cfg.seed}")
        samples = dedupe(built[task]) if cfg.dedupe else built[task]
        kept[task] = _apply_ratio(samples, getattr(cfg, f"{task}_ratio"), getattr(cfg, f"{task}_cap"), rng)
        if cfg.token_shares:  # a seeded order, so the token budget takes a random subset
            rng.shuffle(kept[task])
        counts[task] = {"built": len(built[task]), "unique": len(samples), "kept": len(kept[task])}
    aim = None
    if cfg.token_shares:
        kept, aim = by_token_shares(kept, cfg.token_shares, count, cfg.supervised_tokens)
        for task in tasks:
            counts[task]["kept"] = len(kept[task])
    mix = [s for task in tasks for s in kept[task]]
    tokens = token_report(mix, count, tasks)
    if cfg.shuffle:
        random.Random(f"mix:{cfg.seed}").shuffle(mix)
    report = {
        "examples": len(examples),
        "examples_by_source": dict(sorted(Counter(_source(ex) for ex in labeled).items())),
        "tool_pool": len(pool),
        "tasks": counts,
        "no_call": sum(
            1 for s in mix if s["task"] == "invocation" and s["completion"][0]["content"] == NO_CALL
        ),
        "aliased": sum(1 for s in mix if s["id"].endswith(":alias")),
        "skipped": dict(sorted(skipped.items())),
        "total": len(mix),
        **tokens,
        "token_count": "tokenizer" if count_tokens else "estimate (~4 chars a token)",
        "token_budget": aim,
    }
    return mix, report


def task_counts(samples: Iterable[dict]) -> dict[str, int]:
    return dict(sorted(Counter(s["task"] for s in samples).items()))
