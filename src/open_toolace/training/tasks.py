"""Decomposed-task SFT data (ToolACE-DEV stage 1): internal examples -> prompt/completion samples.

Three sub-tasks, all rendered with the shared templates in `open_toolace.prompts`:

- `adaption`: a tool's free-text description -> its full JSON definition (any tool in the data, plus
  extra tool documents such as the 4,076 Seal-Tools docs);
- `tool_generation`: a query -> the tools that come with it (the ones that serve it and the related ones
  the source offered beside them), as a JSON list;
- `invocation`: a query + its tools mixed with distractors from a pool, shuffled -> the rendered calls, or
  `[]` when no tool fits. Extra abstention samples are made by removing the needed tool(s).

Samples are TRL conversational prompt-completion rows:
`{"prompt": [messages], "completion": [{"role": "assistant", "content": str}], "task": str, "id": str}`.
Everything is a pure function of the inputs and `TaskMixConfig.seed`.

    toolace train build --data ../shared/data/sealtools_dev.jsonl --tools ../shared/data/sealtools_tools.jsonl \
        --out runs/mix/samples.jsonl
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from open_toolace.data.records import example_user_text
from open_toolace.formats import ToolCall, render_calls
from open_toolace.formats.tools import tool_record
from open_toolace.prompts import (
    PROMPT_SETS,
    format_tool,
    format_tools,
    render_adaption,
    render_invocation,
    render_tool_generation,
    tool_format,
)

TASKS = ("adaption", "tool_generation", "invocation")
NO_CALL = render_calls([])  # the abstention answer, "[]"


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
    distractors_min: int = _opt(0, "fewest distractor tools added to an invocation prompt")
    distractors_max: int = _opt(3, "most distractor tools added (uniform in [min, max])")
    abstention_share: float = _opt(
        0.2,
        "extra no-call samples, as a share of the examples that have calls: the needed tool(s) are removed "
        "from the list and the answer becomes []",
    )
    abstention_keep_other_tools: bool = _opt(
        True, "abstention prompts keep the example's unused tools (hard near-misses) besides distractors"
    )
    max_tools: int = _opt(8, "most tools in one invocation / tool-generation sample")
    tool_generation_extra: int | None = _opt(
        None,
        "most tools besides the needed ones in a tool-generation target (null: all, up to max_tools); 0 "
        "teaches exactly the tools the query needs, the short target a small model can learn",
    )
    source_cap: int | None = _opt(
        None,
        "at most this many examples per source (meta.source) feed tool generation and invocation (a seeded "
        "choice), so one large dataset does not dominate; adaption and distractors use all",
    )
    adaption_name_hint: bool = _opt(True, "give the tool name in the adaption prompt")
    prompt_set: str = _opt(
        "bfcl",
        "prompt set the samples are rendered in: bfcl (JSON tools, BFCL's instruction) or lean "
        "(Python signatures, a short instruction); the model learns it and is served with it",
    )
    identifier_names: bool = _opt(
        True,
        "rewrite tool/call names that are not Python identifiers ('Market Trends API' -> 'Market_Trends_API') "
        "so every call has the pythonic form the invocation prompt asks for",
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
        if not 0.0 <= self.abstention_share <= 1.0:
            raise ValueError(f"abstention_share must be in [0, 1], got {self.abstention_share}")
        for task in TASKS:
            if getattr(self, f"{task}_ratio") < 0:
                raise ValueError(f"{task}_ratio must be >= 0")
        if self.max_tools < 1:
            raise ValueError("max_tools must be >= 1")
        if self.tool_generation_extra is not None and self.tool_generation_extra < 0:
            raise ValueError("tool_generation_extra must be >= 0 or null")


def identifier_name(name: str) -> str:
    """`name` as a dotted Python identifier: runs of other characters become `_`."""
    parts = [re.sub(r"\W+", "_", p).strip("_") or "_" for p in name.strip().split(".")]
    return ".".join("_" + p if p[0].isdigit() else p for p in parts)


def with_identifier_names(ex: dict) -> dict:
    """A copy of an example whose tool and call names are identifiers (same mapping for both)."""
    tools = [tool_record(t) for t in ex.get("tools") or []]
    if all(identifier_name(t["name"]) == t["name"] for t in tools) and all(
        identifier_name(c["name"]) == c["name"] for c in ex.get("calls") or []
    ):
        return ex
    calls = ex.get("calls")
    return {
        **ex,
        "tools": [{**t, "name": identifier_name(t["name"])} for t in tools],
        "calls": None if calls is None else [{**c, "name": identifier_name(c["name"])} for c in calls],
    }


def _sample(task: str, id: str, prompt: list[dict], completion: str) -> dict:
    return {
        "prompt": prompt,
        "completion": [{"role": "assistant", "content": completion}],
        "task": task,
        "id": id,
    }


def sample_key(sample: dict) -> str:
    """Hash of prompt + completion: equal keys iff the model would see the same training pair."""
    blob = json.dumps([sample["prompt"], sample["completion"]], sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(blob.encode("utf-8")).hexdigest()


def dedupe(samples: Iterable[dict]) -> list[dict]:
    seen: set[str] = set()
    out = []
    for s in samples:
        k = sample_key(s)
        if k not in seen:
            seen.add(k)
            out.append(s)
    return out


def collect_tools(examples: Iterable[dict], tools: Iterable[Any] = ()) -> list[dict]:
    """Every distinct tool (by name + full definition) in the examples, then the extra tools, in order."""
    seen: set[str] = set()
    out = []
    for t in [t for ex in examples for t in ex.get("tools") or []] + list(tools):
        d = tool_record(t)
        key = json.dumps(d, sort_keys=True, ensure_ascii=False)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def build_adaption(
    items: Iterable[Any],
    *,
    name_hint: bool = True,
    skipped: Counter | None = None,
    prompts: str | None = None,
) -> list[dict]:
    """Tool description -> full JSON definition, for each distinct tool in `items` (examples or tools)."""
    items = list(items)
    examples = [x for x in items if isinstance(x, dict) and "messages" in x]
    tools = [x for x in items if not (isinstance(x, dict) and "messages" in x)]
    out = []
    for i, t in enumerate(collect_tools(examples, tools)):
        desc = (t.get("description") or "").strip()
        if not desc:
            if skipped is not None:
                skipped["adaption:empty_description"] += 1
            continue
        prompt = render_adaption(desc, t["name"] if name_hint else None, prompts=prompts)
        target = format_tool(t, tool_format(prompts))
        out.append(_sample("adaption", f"adaption:{t['name']}:{i}", prompt, target))
    return out


def _called_names(ex: dict) -> set[str]:
    return {c["name"] for c in ex.get("calls") or []}


def build_tool_generation(
    examples: Iterable[dict],
    *,
    max_tools: int = 8,
    extra: int | None = None,
    skipped: Counter | None = None,
    prompts: str | None = None,
) -> list[dict]:
    """Query -> the example's tools (needed ones first when capped), as a JSON list; needs labeled calls.
    `extra` caps the tools that are not called (None: no cap beyond `max_tools`)."""
    out = []
    for ex in examples:
        tools = [tool_record(t) for t in ex.get("tools") or []]
        needed = _called_names(ex)
        query = example_user_text(ex)
        reason = None
        if not needed:
            reason = "no_calls"  # unlabeled or no-call: no tool is known to serve it
        elif not tools:
            reason = "no_tools"
        elif not query.strip():
            reason = "no_query"
        if reason:
            if skipped is not None:
                skipped[f"tool_generation:{reason}"] += 1
            continue
        if (
            extra is not None
        ):  # drop the uncalled tools after the first `extra` (by identity: docs may repeat)
            dropped = {id(t) for t in [t for t in tools if t["name"] not in needed][extra:]}
            tools = [t for t in tools if id(t) not in dropped]
        if len(tools) > max_tools:
            tools = [t for t in tools if t["name"] in needed] + [t for t in tools if t["name"] not in needed]
            tools = tools[:max_tools]
        prompt = render_tool_generation(query, len(tools), prompts=prompts)
        target = format_tools(tools, tool_format(prompts))
        out.append(_sample("tool_generation", f"tool_generation:{ex['id']}", prompt, target))
    return out


class _Pool:
    """Distractor tools by name, sampled without the names a prompt already has."""

    def __init__(self, tools: Iterable[Any]):
        by_name: dict[str, dict] = {}
        for t in tools:
            d = tool_record(t)
            by_name.setdefault(d["name"], d)
        self.tools = list(by_name.values())

    def sample(self, rng: random.Random, k: int, exclude: set[str]) -> list[dict]:
        if k <= 0 or not self.tools:
            return []
        # Oversample by the excluded count, then filter: exact without scanning the whole pool.
        picks = rng.sample(self.tools, min(len(self.tools), k + len(exclude)))
        return [t for t in picks if t["name"] not in exclude][:k]


def _invocation_sample(
    ex: dict,
    tools: list[dict],
    calls_text: str,
    rng: random.Random,
    pool: _Pool,
    cfg: TaskMixConfig,
    id: str,
    min_tools: int = 0,
) -> dict:
    k = rng.randint(cfg.distractors_min, cfg.distractors_max)
    k = min(max(k, min_tools - len(tools)), cfg.max_tools - len(tools))
    tools = tools + pool.sample(rng, k, {t["name"] for t in tools})
    if cfg.shuffle_tools:
        rng.shuffle(tools)
    return _sample("invocation", id, render_invocation(tools, ex["messages"], cfg.prompt_set), calls_text)


def build_invocation(
    examples: Iterable[dict],
    distractor_pool: Iterable[Any],
    cfg: TaskMixConfig | None = None,
    *,
    skipped: Counter | None = None,
) -> list[dict]:
    """Query + tools (+ distractors) -> rendered calls or `[]`; plus removed-tool abstention samples."""
    cfg = cfg or TaskMixConfig()
    rng = random.Random(f"invocation:{cfg.seed}")
    pool = _Pool(distractor_pool)
    skipped = skipped if skipped is not None else Counter()
    out, called = [], []
    for ex in examples:
        calls = ex.get("calls")
        if calls is None:
            skipped["invocation:unlabeled"] += 1
            continue
        tools = [tool_record(t) for t in ex.get("tools") or []]
        names = {t["name"] for t in tools}
        needed = _called_names(ex)
        if needed - names:
            skipped["invocation:call_to_unlisted_tool"] += 1
            continue
        if len(tools) > cfg.max_tools:  # keep the needed tools, drop unused ones
            tools = [t for t in tools if t["name"] in needed] + [t for t in tools if t["name"] not in needed]
            tools = tools[: max(cfg.max_tools, len(needed))]
        try:
            text = render_calls([ToolCall.from_dict(c) for c in calls])
        except ValueError:  # CallParseError too: a name/key with no pythonic form, a value with no literal
            skipped["invocation:unrenderable_call"] += 1
            continue
        out.append(_invocation_sample(ex, tools, text, rng, pool, cfg, f"invocation:{ex['id']}"))
        if needed:
            called.append((ex, tools, needed))
    # Abstentions: a seeded subset of the examples with calls, their needed tools taken away.
    n_abstain = round(cfg.abstention_share * len(called))
    for ex, tools, needed in rng.sample(called, n_abstain):
        rest = [t for t in tools if t["name"] not in needed] if cfg.abstention_keep_other_tools else []
        # Never offer an empty list (trivial) and never re-add a needed tool as a "distractor".
        k = rng.randint(max(cfg.distractors_min, 1 if not rest else 0), max(cfg.distractors_max, 1))
        k = min(k, max(cfg.max_tools - len(rest), 0 if rest else 1))
        extra = pool.sample(rng, k, {t["name"] for t in rest} | needed)
        kept = rest + extra
        if not kept:
            skipped["invocation:abstention_without_tools"] += 1
            continue
        if cfg.shuffle_tools:
            rng.shuffle(kept)
        out.append(
            _sample(
                "invocation",
                f"invocation:{ex['id']}:abstain",
                render_invocation(kept, ex["messages"], cfg.prompt_set),
                NO_CALL,
            )
        )
    return out


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


def build_mixture(
    examples: Iterable[dict],
    cfg: TaskMixConfig | None = None,
    *,
    tools: Iterable[Any] = (),
) -> tuple[list[dict], dict[str, Any]]:
    """All three tasks from `examples` (+ extra tool docs for adaption and the distractor pool), mixed by cfg.

    Returns `(samples, report)`; the report holds per-task counts (built, after dedupe, kept) and skip reasons.
    """
    cfg = cfg or TaskMixConfig()
    examples = list(examples)
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
        "tool_generation": build_tool_generation(
            labeled,
            max_tools=cfg.max_tools,
            extra=cfg.tool_generation_extra,
            skipped=skipped,
            prompts=cfg.prompt_set,
        ),
        "invocation": build_invocation(labeled, pool, cfg, skipped=skipped),
    }
    mix: list[dict] = []
    counts: dict[str, dict[str, int]] = {}
    for task in TASKS:
        rng = random.Random(f"{task}:{cfg.seed}")
        samples = dedupe(built[task]) if cfg.dedupe else built[task]
        kept = _apply_ratio(samples, getattr(cfg, f"{task}_ratio"), getattr(cfg, f"{task}_cap"), rng)
        counts[task] = {"built": len(built[task]), "unique": len(samples), "kept": len(kept)}
        mix += kept
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
        "skipped": dict(sorted(skipped.items())),
        "total": len(mix),
    }
    return mix, report


def task_counts(samples: Iterable[dict]) -> dict[str, int]:
    return dict(sorted(Counter(s["task"] for s in samples).items()))
