"""Sub-task builders: shapes, counts, distractors, abstentions, minimal tools, aliases, determinism."""

from __future__ import annotations

import json
import random
import re

import pytest

from open_toolace.data.records import make_example
from open_toolace.formats import ToolCall, parse_calls, render_calls
from open_toolace.formats.tools import Tool
from open_toolace.training.aliases import opaque_aliases
from open_toolace.training.mixture import TaskMixConfig
from open_toolace.training.tasks import (
    NO_CALL,
    build_adaption,
    build_invocation,
    build_tool_generation,
    identifier_name,
)
from task_data import POOL, examples, prompt_tool_names, tool


def test_invocation_counts_distractors_and_abstentions():
    cfg = TaskMixConfig(distractors_min=1, distractors_max=2, abstention_share=0.5, seed=3)
    out = build_invocation(examples(), POOL, cfg)
    plain = [s for s in out if not s["id"].endswith(":abstain")]
    abstain = [s for s in out if s["id"].endswith(":abstain")]
    assert len(plain) == 5  # 4 with calls + 1 no-call; the unlabeled one is skipped
    assert len(abstain) == 2  # round(0.5 * 4 examples with calls)
    by_id = {ex["id"]: ex for ex in examples()}
    for s in plain:
        ex = by_id[s["id"].split(":")[1]]
        names = prompt_tool_names(s)
        own = [t["name"] for t in ex["tools"]]
        assert set(own) <= set(names)
        assert 1 <= len(names) - len(own) <= 2  # the distractors
        assert all(n.startswith("pool_tool_") for n in set(names) - set(own))
        assert s["completion"] == [
            {"role": "assistant", "content": render_calls([ToolCall.from_dict(c) for c in ex["calls"]])}
        ]
        assert s["prompt"][-1] == ex["messages"][-1]
    for s in abstain:
        ex = by_id[s["id"].split(":")[1]]
        needed = {c["name"] for c in ex["calls"]}
        names = prompt_tool_names(s)
        assert names and not needed & set(names)
        assert s["completion"][0]["content"] == NO_CALL == "[]"
        assert parse_calls(s["completion"][0]["content"]) == []
    assert {s["task"] for s in out} == {"invocation"}


def test_solo_share_shows_one_needed_tool_alone():
    base = TaskMixConfig(distractors_min=1, distractors_max=2, abstention_share=0.5, seed=3)
    solo = build_invocation(examples(), POOL, TaskMixConfig(**{**base.__dict__, "solo_share": 1.0}))
    by_id = {s["id"]: s for s in solo}
    # a, c, d need one tool: shown with it alone (a's unused get_time is gone too); b needs one tool twice
    for i, needed in (("a", "get_weather"), ("c", "convert"), ("d", "search")):
        assert prompt_tool_names(by_id[f"invocation:{i}"]) == [needed]
    assert len(prompt_tool_names(by_id["invocation:b"])) == 1  # get_time alone: it is the needed one
    assert len(prompt_tool_names(by_id["invocation:e"])) > 1  # a no-call example keeps its distractors
    with pytest.raises(ValueError, match="solo_share"):
        TaskMixConfig(solo_share=1.5)


def test_abstention_match_tools_shows_as_many_tools_as_the_call_prompt():
    for solo in (0.0, 0.5, 1.0):
        for keep in (True, False):
            cfg = TaskMixConfig(
                distractors_min=0,
                distractors_max=3,
                abstention_share=1.0,
                solo_share=solo,
                abstention_keep_other_tools=keep,
                abstention_match_tools=True,
                seed=5,
            )
            by_id = {s["id"]: s for s in build_invocation(examples(), POOL, cfg)}
            abstain = [i for i in by_id if i.endswith(":abstain")]
            assert len(abstain) == 4  # every example with calls: a, b, c, d
            for sid in abstain:
                call_prompt = by_id[sid.removesuffix(":abstain")]
                assert len(prompt_tool_names(by_id[sid])) == len(prompt_tool_names(call_prompt))
    # Off (the default), the abstention of a one-tool call prompt may show more or fewer tools.
    off = TaskMixConfig(distractors_min=0, distractors_max=3, abstention_share=1.0, solo_share=1.0, seed=5)
    by_id = {s["id"]: s for s in build_invocation(examples(), POOL, off)}
    assert any(len(prompt_tool_names(by_id[f"invocation:{i}:abstain"])) != 1 for i in "acd")


def test_abstention_siblings_offer_the_family_of_the_needed_tool():
    # g calls `get_weather` beside `moon_phase`, so a's abstention (a calls get_weather too) can offer
    # moon_phase, a tool of its family that a does not list; c's `convert` is always listed alone.
    g = make_example(
        "g",
        [{"role": "user", "content": "weather in Oslo"}],
        [tool("get_weather", "city"), tool("moon_phase", "date")],
        [{"name": "get_weather", "arguments": {"city": "Oslo"}}],
        source="t",
    )
    exs = [*examples(), g]
    pool = [*POOL, tool("moon_phase", "date")]
    # keep_other_tools off: the example's own unused tools are not shown, so only the pool fills
    base = dict(distractors_min=0, distractors_max=0, abstention_share=1.0, solo_share=1.0, seed=2)
    base.update(abstention_keep_other_tools=False, abstention_match_tools=True)
    on = TaskMixConfig(**base, abstention_siblings=True)
    off = TaskMixConfig(**base)
    got_on = {s["id"]: prompt_tool_names(s) for s in build_invocation(exs, pool, on)}
    got_off = {s["id"]: prompt_tool_names(s) for s in build_invocation(exs, pool, off)}
    assert got_on["invocation:a:abstain"] == ["moon_phase"]  # the sibling, not a random pool tool
    assert got_off["invocation:a:abstain"] != ["moon_phase"]
    # g lists moon_phase itself (its own tools are never drawn back): no family left, an unrelated tool
    for sid in ("invocation:c:abstain", "invocation:g:abstain"):
        assert len(got_on[sid]) == 1 and got_on[sid][0].startswith("pool_tool_")
    # every abstention still hides its needed tools
    for ex in exs:
        if ex["calls"]:
            assert not {c["name"] for c in ex["calls"]} & set(got_on[f"invocation:{ex['id']}:abstain"])


def test_invocation_deterministic_under_seed():
    cfg = TaskMixConfig(distractors_min=2, distractors_max=4, abstention_share=0.5, seed=1)
    a = build_invocation(examples(), POOL, cfg)
    b = build_invocation(examples(), POOL, cfg)
    c = build_invocation(
        examples(), POOL, TaskMixConfig(distractors_min=2, distractors_max=4, abstention_share=0.5, seed=2)
    )
    assert a == b
    assert a != c


def test_invocation_skips_are_counted():
    from collections import Counter

    bad = make_example(
        "g",
        [{"role": "user", "content": "x"}],
        [tool("other")],
        [{"name": "missing", "arguments": {}}],
        source="t",
    )
    skipped: Counter = Counter()
    out = build_invocation([*examples(), bad], POOL, TaskMixConfig(abstention_share=0), skipped=skipped)
    assert len(out) == 5
    assert skipped == Counter({"invocation:unlabeled": 1, "invocation:call_to_unlisted_tool": 1})


def test_adaption_from_tools_and_examples():
    tools = [
        Tool(
            "lookup_word",
            "Look a word up in the dictionary",
            {
                "type": "object",
                "properties": {"word": {"type": "string", "description": "the word"}},
                "required": ["word"],
            },
        ),
        Tool("no_doc", "", {"type": "object", "properties": {}}),
    ]
    out = build_adaption([*examples(), *tools])
    names = [json.loads(s["completion"][0]["content"])["name"] for s in out]
    # distinct tools of the examples (get_weather, get_time, convert, search) + lookup_word; no_doc has no text
    assert sorted(names) == ["convert", "get_time", "get_weather", "lookup_word", "search"]
    s = next(s for s in out if "lookup_word" in s["id"])
    assert json.loads(s["completion"][0]["content"]) == tools[0].to_dict()
    assert "Look a word up" in s["prompt"][-1]["content"] and "lookup_word" in s["prompt"][-1]["content"]
    no_hint = build_adaption(tools[:1], name_hint=False)
    assert "lookup_word" not in no_hint[0]["prompt"][-1]["content"]


def test_tool_generation_lists_the_example_tools():
    out = build_tool_generation(examples())
    assert [s["id"] for s in out] == [
        "tool_generation:a",
        "tool_generation:b",
        "tool_generation:c",
        "tool_generation:d",
    ]
    s = out[0]
    listed = json.loads(s["completion"][0]["content"])
    assert listed == examples()[0]["tools"]
    assert "write exactly 2 API definition(s)" in s["prompt"][0]["content"]
    assert "weather in Paris" in s["prompt"][-1]["content"]
    capped = build_tool_generation(examples()[:1], max_tools=1)
    assert [t["name"] for t in json.loads(capped[0]["completion"][0]["content"])] == [
        "get_weather"
    ]  # needed first
    only_needed = build_tool_generation(examples()[:1], extra=0)
    assert [t["name"] for t in json.loads(only_needed[0]["completion"][0]["content"])] == ["get_weather"]
    assert "write exactly 1 API definition" in only_needed[0]["prompt"][0]["content"]
    dup = dict(examples()[0], tools=[tool("get_weather", "city"), tool("get_time", "zone")] * 2)
    one_extra = build_tool_generation([dup], extra=1)  # a repeated uncalled doc counts twice
    names = [t["name"] for t in json.loads(one_extra[0]["completion"][0]["content"])]
    assert names == ["get_weather", "get_time", "get_weather"]


def test_tool_generation_targets_are_minimal_tools():
    from open_toolace.training.tasks import minimal_tool

    t = {
        "name": "book",
        "description": "Book a room.",
        "parameters": {
            "type": "object",
            "properties": {
                "hotel": {"type": "string", "pattern": "^[A-Z].*$"},
                "nights": {"type": "integer"},
                "breakfast": {"type": "boolean"},
                "notes": {"type": "string"},
                "notify": {"type": "boolean"},
                "guest": {"type": "object", "properties": {"email": {"type": "string", "pattern": ".+@.+"}}},
            },
            "required": ["hotel"],
        },
    }
    m = minimal_tool(t, used={"notify"}, optional=2)
    # required + used + the first two other optional ones, in the tool's order; no pattern at any depth
    assert list(m["parameters"]["properties"]) == ["hotel", "nights", "breakfast", "notify"]
    assert "pattern" not in str(m) and m["parameters"]["required"] == ["hotel"]
    assert "pattern" not in str(
        minimal_tool(t, used={"guest"}, optional=0)["parameters"]["properties"]["guest"]
    )
    ex = make_example(
        "b",
        [{"role": "user", "content": "book the Ritz"}],
        [t],
        [{"name": "book", "arguments": {"hotel": "Ritz"}}],
    )
    (target,) = json.loads(build_tool_generation([ex])[0]["completion"][0]["content"])
    assert list(target["parameters"]["properties"]) == ["hotel", "nights", "breakfast"]
    (full,) = json.loads(build_tool_generation([ex], optional=None)[0]["completion"][0]["content"])
    assert full == t


def test_alias_share_renames_the_called_tool_to_a_name_unlike_the_request():
    base = TaskMixConfig(distractors_min=1, distractors_max=2, abstention_share=0.5, seed=3)
    off = build_invocation(examples(), POOL, base)
    assert off == build_invocation(examples(), POOL, TaskMixConfig(**{**base.__dict__, "alias_share": 0.0}))
    assert not any(s["id"].endswith(":alias") for s in off)
    on = build_invocation(examples(), POOL, TaskMixConfig(**{**base.__dict__, "alias_share": 1.0}))
    by_id = {ex["id"]: ex for ex in examples()}
    aliased = [s for s in on if s["id"].endswith(":alias")]
    assert {s["id"].split(":")[1] for s in aliased} == {"a", "b", "c", "d"}  # every example with calls
    for s in aliased:
        ex = by_id[s["id"].split(":")[1]]
        needed = {c["name"] for c in ex["calls"]}
        names = prompt_tool_names(s)
        calls = parse_calls(s["completion"][0]["content"])
        assert not needed & set(names)  # the real name is neither shown nor drawn back as a distractor
        assert {c.name for c in calls} <= set(names)
        assert [c.arguments for c in calls] == [c["arguments"] for c in ex["calls"]]
        request = ex["messages"][-1]["content"].lower()
        assert not any(w in request for c in calls for w in re.split(r"[\W_]+", c.name.lower()) if len(w) > 2)
    aliases = {c.name for s in aliased for c in parse_calls(s["completion"][0]["content"])}
    abstentions = [s for s in on if s["id"].endswith(":abstain")]
    assert abstentions
    for s in abstentions:  # they start from the real names: no alias, no needed tool
        ex = by_id[s["id"].split(":")[1]]
        assert not ({c["name"] for c in ex["calls"]} | aliases) & set(prompt_tool_names(s))
    with pytest.raises(ValueError, match="alias_share"):
        TaskMixConfig(alias_share=1.5)


def test_opaque_aliases_keep_a_name_an_earlier_turn_called():
    rng = random.Random(0)
    history = [
        {"role": "user", "content": "weather in Paris"},
        {"role": "assistant", "content": '[get_weather(city="Paris")]'},
        {"role": "user", "content": "and in Rome?"},
    ]
    assert opaque_aliases({"get_weather"}, history, {"get_weather"}, rng) == {}
    alias = opaque_aliases({"get_weather"}, history[:1], {"get_weather"}, rng)
    assert set(alias) == {"get_weather"} and alias["get_weather"].isascii()
    assert identifier_name(alias["get_weather"]) == alias["get_weather"]
