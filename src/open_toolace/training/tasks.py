"""Decomposed-task SFT data (ToolACE-DEV stage 1): internal examples -> prompt/completion samples.

Three sub-tasks, all rendered with the shared templates in `open_toolace.prompts`:

- `adaption`: a tool's free-text description -> its full JSON definition (any tool in the data, plus
  extra tool documents such as the 4,076 Seal-Tools docs);
- `tool_generation`: a query -> the tools that come with it (the ones that serve it and the related ones
  the source offered beside them), as a JSON list;
- `invocation`: a query + its tools mixed with distractors from a pool, shuffled -> the rendered calls, or
  `[]` when no tool fits. Extra abstention samples are made by removing the needed tool(s).

How many of each go into the training set is `training.mixture`'s job (`TaskMixConfig`, `build_mixture`).
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
from typing import TYPE_CHECKING, Any

from open_toolace.data.records import example_user_text
from open_toolace.formats import ToolCall, render_calls
from open_toolace.formats.tools import name_words, tool_record
from open_toolace.prompts import (
    format_tool,
    format_tools,
    render_adaption,
    render_invocation,
    render_tool_generation,
    tool_format,
)
from open_toolace.training.aliases import opaque_aliases, renamed

if TYPE_CHECKING:
    from open_toolace.training.mixture import TaskMixConfig

TASKS = ("adaption", "tool_generation", "invocation")  # the tasks built here
# Built by `refine.corpus.build_refinement` (ToolACE-R): (conversation, tools, previous answer) -> refined
# answer. A sample file and a mixture (`build_mixture(..., refinement=...)`) may hold it beside TASKS.
REFINEMENT = "refinement"
SAMPLE_TASKS = (*TASKS, REFINEMENT)
NO_CALL = render_calls([])  # the abstention answer, "[]"


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


def _no_patterns(schema: Any) -> Any:
    """A schema without regex `pattern`s, at any depth: a small model cannot learn to write them."""
    if isinstance(schema, dict):
        return {k: _no_patterns(v) for k, v in schema.items() if k != "pattern"}
    if isinstance(schema, list):
        return [_no_patterns(v) for v in schema]
    return schema


def minimal_tool(tool: dict, used: set[str], optional: int = 2) -> dict:
    """`tool` with its required parameters, the ones in `used`, and the first `optional` other optional
    ones; no regex patterns. The target of query-aware tool generation: what the query needs, not every
    option a real API has."""
    params = tool.get("parameters") or {}
    props = params.get("properties") or {}
    required = set(params.get("required") or [])
    spare = [n for n in props if n not in required and n not in used][:optional]
    keep = [n for n in props if n in required or n in used or n in spare]
    return {**tool, "parameters": {**params, "properties": {n: _no_patterns(props[n]) for n in keep}}}


def build_tool_generation(
    examples: Iterable[dict],
    *,
    max_tools: int = 8,
    extra: int | None = None,
    optional: int | None = 2,
    skipped: Counter | None = None,
    prompts: str | None = None,
) -> list[dict]:
    """Query -> the example's tools (needed ones first when capped), as a JSON list; needs labeled calls.
    `extra` caps the tools that are not called (None: no cap beyond `max_tools`); `optional` makes each
    target tool minimal (`minimal_tool`: the parameters the calls use + that many other optional ones;
    None: the tools as they are)."""
    out = []
    for ex in examples:
        tools = [tool_record(t) for t in ex.get("tools") or []]
        if optional is not None:
            used: dict[str, set[str]] = {}
            for c in ex.get("calls") or []:
                used.setdefault(c["name"], set()).update((c.get("arguments") or {}).keys())
            tools = [minimal_tool(t, used.get(t["name"], set()), optional) for t in tools]
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
        self.by_name = by_name
        self.tools = list(by_name.values())

    def sample(
        self, rng: random.Random, k: int, exclude: set[str], unlike: set[str] | None = None
    ) -> list[dict]:
        """`k` tools not named in `exclude`; with `unlike`, also none sharing a content word with those
        names (an abstention must not be offered `get_weather_forecast` when it needs `get_weather`)."""
        if k <= 0 or not self.tools:
            return []
        words = _words_of(unlike)
        if not words:
            # Oversample by the excluded count, then filter: exact without scanning the whole pool.
            picks = rng.sample(self.tools, min(len(self.tools), k + len(exclude)))
            return [t for t in picks if t["name"] not in exclude][:k]
        ok = [t for t in self.tools if _allowed(t["name"], exclude, words)]
        return rng.sample(ok, min(k, len(ok)))

    def siblings(
        self, rng: random.Random, k: int, names: set[str], exclude: set[str], unlike: set[str]
    ) -> list[dict]:
        """Up to `k` of `names` (sorted, so the draw is seeded) that are in the pool, not in `exclude`, and
        share no content word with `unlike`."""
        words = _words_of(unlike)
        ok = [self.by_name[n] for n in sorted(names) if n in self.by_name and _allowed(n, exclude, words)]
        return rng.sample(ok, min(k, len(ok))) if k > 0 else []


def _words_of(names: set[str] | None) -> set[str]:
    return set().union(*map(content_words, names)) if names else set()


def _allowed(name: str, exclude: set[str], words: set[str]) -> bool:
    """Not excluded by name, and no look-alike: shares no content word with `words`."""
    return name not in exclude and not (content_words(name) & words)


# Verbs and fillers every tool family shares: two tools with only these in common are not look-alikes.
_GENERIC_NAME_WORDS = frozenset((
    "get", "set", "list", "find", "search", "show", "create", "update", "delete", "add", "remove", "check",
    "calculate", "compute", "fetch", "make", "by", "for", "of", "to", "in", "on", "at", "and", "or", "the",
    "a", "an", "info", "details", "data", "api", "v1", "v2",
))  # fmt: skip


def content_words(name: str) -> set[str]:
    """The content words of a tool name (`weather.get_forecast` -> {weather, forecast})."""
    return set(name_words(name)) - _GENERIC_NAME_WORDS


def _invocation_sample(
    ex: dict,
    tools: list[dict],
    calls_text: str,
    rng: random.Random,
    pool: _Pool,
    cfg: TaskMixConfig,
    id: str,
    exclude: set[str],
    min_tools: int = 0,
) -> tuple[dict, int]:
    """The call sample and how many tools its prompt shows (no distractor named in `exclude`)."""
    k = rng.randint(cfg.distractors_min, cfg.distractors_max)
    k = min(max(k, min_tools - len(tools)), cfg.max_tools - len(tools))
    tools = tools + pool.sample(rng, k, {t["name"] for t in tools} | exclude)
    if cfg.shuffle_tools:
        rng.shuffle(tools)
    prompt = render_invocation(tools, ex["messages"], cfg.prompt_set)
    return _sample("invocation", id, prompt, calls_text), len(tools)


def build_invocation(
    examples: Iterable[dict],
    distractor_pool: Iterable[Any],
    cfg: TaskMixConfig,
    *,
    skipped: Counter | None = None,
) -> list[dict]:
    """Query + tools (+ distractors) -> rendered calls or `[]`; plus removed-tool abstention samples."""
    rng = random.Random(f"invocation:{cfg.seed}")
    pool = _Pool(distractor_pool)
    skipped = skipped if skipped is not None else Counter()
    out, called = [], []
    # name -> the other tools listed where it is called: its family, for near-miss abstentions
    listed_with: dict[str, set[str]] = {}
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
        sid, shown_tools, shown_text, alias = f"invocation:{ex['id']}", tools, text, {}
        # Drawn only when on, so alias_share=0 (and solo_share=0) leave the seeded stream as it was. Only
        # the call sample shows the aliases: the abstentions below start from the real names.
        if needed and cfg.alias_share and rng.random() < cfg.alias_share:
            alias = opaque_aliases(needed, ex["messages"], names | set(pool.by_name), rng)
            if alias:
                (shown_tools, shown_text), sid = renamed(tools, calls, alias), f"{sid}:alias"
        if len(needed) == 1 and cfg.solo_share and rng.random() < cfg.solo_share:
            solo = [t for t in shown_tools if t["name"] in {alias.get(n, n) for n in needed}]
            prompt = render_invocation(solo, ex["messages"], cfg.prompt_set)
            out.append(_sample("invocation", sid, prompt, shown_text))
            shown = 1
        else:
            sample, shown = _invocation_sample(ex, shown_tools, shown_text, rng, pool, cfg, sid, set(alias))
            out.append(sample)
        if needed:
            called.append((ex, tools, needed, shown))
            if cfg.abstention_siblings:
                for n in needed:
                    listed_with.setdefault(n, set()).update(names - needed)
    # Abstentions: a seeded subset of the examples with calls, their needed tools taken away.
    n_abstain = round(cfg.abstention_share * len(called))
    for ex, tools, needed, shown in rng.sample(called, n_abstain):
        rest = [t for t in tools if t["name"] not in needed] if cfg.abstention_keep_other_tools else []
        # Never offer an empty list (trivial) and never re-add a needed tool as a "distractor".
        k = rng.randint(max(cfg.distractors_min, 1 if not rest else 0), max(cfg.distractors_max, 1))
        # Matching replaces this draw, which still happens so the seeded stream stays the one measured.
        if cfg.abstention_match_tools:  # as many tools as the call prompt showed: the count is no cue
            if len(rest) > shown:
                rest = rng.sample(rest, shown)
            k = max(shown - len(rest), 0 if rest else 1)
        k = min(k, max(cfg.max_tools - len(rest), 0 if rest else 1))
        # The example's own tools are never drawn back in (without keep_other_tools its unused tools may
        # still serve the query: a round's generated tools were written for it), nor look-alikes of the
        # needed ones.
        own = {t["name"] for t in tools}
        extra = []
        if cfg.abstention_siblings:  # near misses first: the family of the needed tools
            family = set().union(*(listed_with.get(n, set()) for n in needed))
            extra = pool.siblings(rng, k, family, own | needed, unlike=needed)
        extra += pool.sample(rng, k - len(extra), own | needed | {t["name"] for t in extra}, unlike=needed)
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
