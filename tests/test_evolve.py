"""Self-evolution steps (open_toolace.evolve) on a scripted fake generator: no model, milliseconds."""

from __future__ import annotations

import json

import pytest

from helpers import CONVERT, WEATHER
from open_toolace import evolve
from open_toolace.formats import ToolCall
from open_toolace.generation import Sampling
from open_toolace.generation.fake import FakeGenerator
from open_toolace.pipeline.config import EvolveConfig
from open_toolace.training.mixture import TaskMixConfig


def ScriptedGenerator(script):  # noqa: N802  (reads as the class it stands for)
    """The project's FakeGenerator with `script(request_text, n) -> list[str]` answering each request."""

    def answer(messages, k, sampling):
        res = list(script("\n".join(m["content"] for m in messages), sampling.n))
        assert len(res) == sampling.n
        return res[k]

    return FakeGenerator(answer)


def query(i: int, text: str) -> dict:
    return {
        "id": f"q{i}",
        "messages": [{"role": "user", "content": text}],
        "tools": [],
        "calls": None,
        "meta": {},
    }


def test_generate_tools_parses_and_records_rejections():
    outputs = {
        "weather in Paris": "Sure! Here are the tools:\n```json\n" + json.dumps([WEATHER, CONVERT]) + "\n```",
        "convert 5 dollars": json.dumps({"tools": [CONVERT, {"name": "", "parameters": 3}]}),
        "garbage please": "I cannot do that [[[ {",
        "a number": "42",
        "all bad": json.dumps([{"description": "no name"}]),
        "dupes": json.dumps([WEATHER, WEATHER]),
        "cut off": "[" + json.dumps(CONVERT) + ', {"name": "get_wea',
        "bare objects": json.dumps(WEATHER) + ",\n" + json.dumps(CONVERT) + ',\n{"name": "x", "descr',
    }

    def script(text, n):
        for q, out in outputs.items():
            if q in text:
                return [out] * n
        raise AssertionError(text)

    gen = ScriptedGenerator(script)
    qs = [query(i, q) for i, q in enumerate(outputs)]
    sampling = Sampling(temperature=1.0, top_k=50, max_new_tokens=320)
    kept, rejected = evolve.generate_tools(gen, qs, m=3, sampling=sampling, progress=False)
    assert gen.calls[0]["temperature"] == 1.0 and gen.calls[0]["top_k"] == 50 and gen.calls[0]["n"] == 1
    by_id = {it["id"]: it for it in kept}
    assert [t["name"] for t in by_id["q0"]["tools"]] == ["get_weather", "convert_currency"]
    assert [t["name"] for t in by_id["q1"]["tools"]] == ["convert_currency"]
    assert by_id["q1"]["meta"]["tool_problems"], "the broken second tool must be recorded"
    assert [t["name"] for t in by_id["q5"]["tools"]] == ["get_weather"]
    assert by_id["q5"]["meta"]["tool_problems"][0]["reason"] == "duplicate_name"
    assert [t["name"] for t in by_id["q6"]["tools"]] == ["convert_currency"]
    assert by_id["q6"]["meta"]["tool_problems"][0]["reason"] == "truncated_list"
    # objects with no list around them (a small model's habit): the whole ones are kept, the cut one is not
    assert [t["name"] for t in by_id["q7"]["tools"]] == ["get_weather", "convert_currency"]
    reasons = {r["id"]: r["reason"] for r in rejected}
    assert reasons == {"q2": "bad_json", "q3": "not_a_list", "q4": "no_valid_tool"}
    assert all(r["step"] == "tools" and "output" in r for r in rejected)
    assert len(kept) + len(rejected) == len(qs), "nothing is lost silently"


F_TOOL = {
    "name": "f",
    "description": "A test function.",
    "parameters": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]},
}


def _tool(name, *params):
    props = {p: {"type": "number", "description": p} for p in params}
    return {"name": name, "description": f"{name}.", "parameters": {"type": "object", "properties": props}}


def test_generate_tools_samples_several_lists_and_keeps_the_best_valid_one():
    gas2 = json.dumps([_tool("gas_pressure", "temperature", "volume")])
    gas3 = json.dumps([_tool("gas_pressure", "moles", "temperature", "volume")])
    gas4 = json.dumps([_tool("gas_pressure", "moles", "temperature", "volume", "r")])
    outputs = {
        "8 mol at 331.7 K in 11.5 L": ["{broken", gas2, gas3, gas4],  # gas3: room for all 3 numbers, first
        "radius 3, 5 and 7": [gas2, gas3, gas2, gas3],  # room 2 vs 3: the first list with 3
        "hello there": [gas2, "{broken", gas3, gas2],  # no number: the first valid list
        "all broken": ["{broken", "42", "{x", "[["],
    }

    def script(text, n):
        return next(out for q, out in outputs.items() if q in text)[:n]

    gen = ScriptedGenerator(script)
    qs = [query(i, q) for i, q in enumerate(outputs)]
    kept, rejected = evolve.generate_tools(gen, qs, m=1, sampling=Sampling(n=4), progress=False)
    assert gen.calls[0]["n"] == 4
    by_id = {it["id"]: it for it in kept}
    assert by_id["q0"]["meta"]["tool_pick"] == {"samples": 4, "valid": 3, "chosen": 2}
    assert by_id["q0"]["meta"]["tool_output"] == gas3
    assert by_id["q1"]["meta"]["tool_pick"]["chosen"] == 1
    assert by_id["q2"]["meta"]["tool_pick"]["chosen"] == 0
    [rej] = rejected
    assert rej["id"] == "q3" and rej["reason"] == "bad_json" and rej["output"] == "{broken"
    assert rej["reasons"] == ["bad_json", "not_a_list", "bad_json", "bad_json"]


def test_one_tool_sample_keeps_todays_records():
    gen = ScriptedGenerator(lambda text, n: [json.dumps([WEATHER])] * n)
    kept, _ = evolve.generate_tools(
        gen, [query(0, "weather in Paris")], m=1, sampling=Sampling(), progress=False
    )
    assert "tool_pick" not in kept[0]["meta"]
    assert EvolveConfig(tool_samples=3).tool_sampling(0).n == 3
    with pytest.raises(ValueError, match="tool_samples"):
        EvolveConfig(tool_samples=0)
    assert EvolveConfig(k=1, min_votes=1).min_votes == 1  # the greedy answer, kept when it passes the rules
    with pytest.raises(ValueError, match="min_votes"):
        EvolveConfig(k=1)  # two votes out of one sample: nothing could ever be kept


def test_pick_tools_counts_parameters_up_to_the_stated_numbers():
    one, two, three = [_tool("f", "a")], [_tool("f", "a", "b")], [_tool("f", "a", "b", "c")]
    assert evolve.pick_tools("add 2 and 3", [one, three, two]) == 1  # three and two tie at 2: the first
    assert evolve.pick_tools("add 2 and 3", [one, two, three]) == 1
    assert evolve.pick_tools("say hi", [three, one]) == 0
    assert evolve.pick_tools("rate 5% on 52,000 for 3 years", [two, three]) == 1


def test_majority_vote_canonical_agreement_and_threshold():
    a = '[get_weather(city="Paris", unit="celsius")]'
    a_reordered = '[get_weather(unit="celsius", city="Paris")]'
    b = '[get_weather(city="Lyon")]'
    v = evolve.majority_vote([a, a_reordered, b, a, "[get_weather(city="], threshold=0.6)
    assert v.winner == [ToolCall("get_weather", {"city": "Paris", "unit": "celsius"})]
    assert v.votes == 3 and v.total == 5 and v.valid == 4 and v.agreement == pytest.approx(0.75)
    assert sum(v.parse_errors.values()) == 1, "the truncated sample is counted as a parse error"
    assert sum(v.invalid.values()) == 1 and next(iter(v.invalid)).startswith("parse:")

    # the unparseable sample is no opinion: the share is over the 4 valid samples, 3/4 < 0.8
    v = evolve.majority_vote([a, a_reordered, b, a, "[get_weather(city="], threshold=0.8)
    assert v.winner is None and v.reason == "below_threshold"

    # 1 and 1.0 are the same answer
    v = evolve.majority_vote(["[f(x=1)]", "[f(x=1.0)]", "[f(x=2)]"], threshold=0.5)
    assert v.winner is not None and v.votes == 2

    v = evolve.majority_vote([a, a, b, b, "[]"], threshold=0.0)
    assert v.winner is None and v.reason == "tie"
    assert evolve.majority_vote([], 0.5).reason == "no_samples"
    assert evolve.majority_vote(["f(", "[g(x=__import__('os'))]"], 0.5).reason == "no_valid"
    # parsed call lists are accepted too
    v = evolve.majority_vote([[ToolCall("f", {"x": 1})]] * 2 + [[]], threshold=0.6)
    assert v.winner == [ToolCall("f", {"x": 1})]


def test_vote_items_drops_ties_and_no_call_winners():
    items = [
        {"id": "a", "samples": ["[f(x=1)]"] * 4 + ["[]"], "tools": [F_TOOL], "messages": []},
        {"id": "b", "samples": ["[]"] * 5, "tools": [F_TOOL], "messages": []},
        {"id": "c", "samples": ["[f(x=1)]"] * 2 + ["[f(x=2)]"] * 2, "tools": [F_TOOL], "messages": []},
    ]
    kept, rejected, records = evolve.vote_items(items, threshold=0.6)
    assert [it["id"] for it in kept] == ["a"]
    assert kept[0]["calls"] == [{"name": "f", "arguments": {"x": 1}}] and "samples" not in kept[0]
    assert kept[0]["meta"]["agreement"] == pytest.approx(0.8)
    assert {r["id"]: r["reason"] for r in rejected} == {"b": "no_call_winner", "c": "tie"}
    assert [r["id"] for r in records] == ["a", "b", "c"]
    kept, _, _ = evolve.vote_items(items, threshold=0.6, keep_no_call=True)
    assert [it["id"] for it in kept] == ["a", "b"] and kept[1]["calls"] == []


def voted(i, calls, tools=(WEATHER, CONVERT), text="What is the weather in Paris?"):
    return {
        "id": f"v{i}",
        "messages": [{"role": "user", "content": text}],
        "tools": list(tools),
        "calls": calls,
        "meta": {},
    }


def test_rule_filter_drops_hallucinations_with_reasons():
    items = [
        voted(0, [{"name": "get_weather", "arguments": {"city": "Paris"}}]),
        voted(1, [{"name": "get_forecast", "arguments": {"city": "Paris"}}]),
        voted(2, [{"name": "get_weather", "arguments": {"city": "Paris", "zip": "75001"}}]),
        voted(3, [{"name": "convert_currency", "arguments": {"amount": 5}}]),
        voted(4, [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "kelvin"}}]),
        voted(5, [{"name": "convert_currency", "arguments": {"amount": "five", "to": "EUR"}}]),
        {"id": "broken", "calls": [{"nme": "x"}], "messages": [], "tools": [{"name": 3}]},
    ]
    kept, rejected = evolve.rule_filter(items)
    assert [it["id"] for it in kept] == ["v0"]
    reasons = {r["id"]: r["reason"] for r in rejected}
    assert reasons == {
        "v1": "unknown_function",
        "v2": "unknown_parameter",
        "v3": "missing_required",
        "v4": "enum_mismatch",
        "v5": "type_mismatch",
        "broken": "format_error",
    }
    assert all(r["step"] == "rules" for r in rejected)
    assert all(r["reasons"] for r in rejected if r["id"] != "broken")


def test_rule_filter_coverage_rejects_calls_that_leave_out_a_stated_number():
    text = "Convert 52,000 dollars to EUR, then 15% of it"
    items = [
        voted(0, [{"name": "convert_currency", "arguments": {"amount": 52000, "to": "EUR"}}], text=text),
        voted(
            1,
            [
                {"name": "convert_currency", "arguments": {"amount": 52000, "to": "EUR"}},
                {"name": "convert_currency", "arguments": {"amount": 0.15, "to": "EUR"}},
            ],
            text=text,
        ),  # fmt: skip
        voted(2, [], text=text),  # no call: nothing to cover
        voted(3, [{"name": "get_weather", "arguments": {"city": "Paris"}}]),  # a query without numbers
    ]
    kept, rejected = evolve.rule_filter(items)
    assert len(kept) == 4 and not rejected  # off by default
    kept, rejected = evolve.rule_filter(items, coverage="numbers")
    assert [it["id"] for it in kept] == ["v1", "v2", "v3"]
    assert [(r["id"], r["reason"]) for r in rejected] == [("v0", "query_value_unused")]
    assert "15%" in rejected[0]["message"]
    with pytest.raises(ValueError, match="coverage"):
        evolve.rule_filter(items, coverage="all")


def test_build_triplets_replay_share_and_tasks():
    items = [voted(i, [{"name": "get_weather", "arguments": {"city": "Paris"}}]) for i in range(6)]
    replay = [
        {
            "id": f"s{i}",
            "prompt": [{"role": "user", "content": f"p{i}"}],
            "completion": [{"role": "assistant", "content": "[]"}],
            "task": "invocation",
        }
        for i in range(50)
    ]
    samples, rep = evolve.build_triplets(items, replay, replay_share=0.25, seed=1)
    counts = rep["tasks"]
    new = counts["tool_generation"] + counts["invocation"]
    assert counts["tool_generation"] >= 1 and counts["invocation"] >= 1
    assert counts["replay"] == round(new * 0.25 / 0.75)
    assert len(samples) == new + counts["replay"]
    assert sum(s["id"].startswith("replay:") for s in samples) == counts["replay"]
    for s in samples:
        assert s["prompt"] and s["completion"][0]["role"] == "assistant"
    again, _ = evolve.build_triplets(items, replay, replay_share=0.25, seed=1)
    assert again == samples, "deterministic under the seed"
    none, rep0 = evolve.build_triplets(items, replay, replay_share=0.0, seed=1)
    assert rep0["tasks"]["replay"] == 0 and len(none) == new
    empty, rep = evolve.build_triplets([], replay, replay_share=0.5)
    assert empty == [] and rep["tasks"]["replay"] == 0


def test_replay_balance_calls_makes_up_the_multi_call_answers_a_round_lacks():
    city = [f"City{i}" for i in range(20)]
    items = [voted(i, [{"name": "get_weather", "arguments": {"city": c}}], text=f"Weather in {c}?")
             for i, c in enumerate(city)]  # fmt: skip

    def seed_sample(i: int) -> dict:
        calls = '[get_weather(city="A"), get_weather(city="B")]' if i % 4 == 0 else '[get_weather(city="A")]'
        return {"id": f"s{i}", "prompt": [{"role": "user", "content": f"p{i}"}],
                "completion": [{"role": "assistant", "content": calls}], "task": "invocation"}  # fmt: skip

    replay = [seed_sample(i) for i in range(200)]  # a quarter of the seed answers are parallel
    mix = TaskMixConfig(abstention_share=0.0)
    off, rep_off = evolve.build_triplets(items, replay, 0.2, mix, seed=1)
    on, rep_on = evolve.build_triplets(items, replay, 0.2, mix, seed=1, replay_balance="calls")
    assert rep_on["multi_call_share"]["replay_pool"] == rep_off["multi_call_share"]["replay_pool"] == 0.25
    assert rep_on["tasks"]["replay"] == rep_off["tasks"]["replay"] and len(on) == len(off)
    assert rep_off["multi_call_share"]["set"] < 0.2  # the round's single calls dilute the seed's share
    # 20 single-call targets + 10 replayed: 7 parallel ones first bring the share back to the seed's
    assert rep_on["multi_call_share"]["set"] >= 0.25
    assert sum(evolve.triplets.target_calls(s) == 2 for s in on if s["id"].startswith("replay:")) >= 7
    assert on == evolve.build_triplets(items, replay, 0.2, mix, seed=1, replay_balance="calls")[0]
    with pytest.raises(ValueError, match="replay_balance"):
        evolve.build_triplets(items, replay, 0.2, mix, replay_balance="parallel")
    assert evolve.triplets.target_calls({"task": "invocation", "completion": [{"content": "[f("}]}) == 0


def test_build_triplets_non_identifier_names_and_skips_are_reported():
    tool = dict(WEATHER, name="get-weather")
    items = [
        voted(0, [{"name": "get-weather", "arguments": {"city": "Paris"}}], tools=[tool]),
        voted(1, [{"name": "missing_tool", "arguments": {}}], tools=[tool]),
    ]
    samples, rep = evolve.build_triplets(items, replay_share=0.0)
    texts = [s["completion"][0]["content"] for s in samples if s["task"] == "invocation"]
    assert '[get_weather(city="Paris")]' in texts, "names are made identifiers so the call renders"
    assert rep["skipped"].get("invocation:call_to_unlisted_tool") == 1


def test_one_round_with_malformed_outputs_never_crashes():
    """A full round of pure steps where the model emits a mix of good, broken and hostile text."""
    tool_outputs = [
        json.dumps([WEATHER]),
        "not json at all",
        json.dumps([WEATHER, CONVERT]),
        "```json\n[{\n```",
    ]
    inv = {
        0: ['[get_weather(city="Paris")]'] * 4 + ['[get_weather(city="Rome")]'],
        2: ['[get_forecast(city="Paris")]'] * 5,  # hallucinated tool: no valid sample, dropped by the vote
    }

    def script(text, n):
        for i in range(4):
            if f"query number {i}" in text:
                if n == 1:
                    return [tool_outputs[i]]
                return inv[i]
        raise AssertionError(text)

    gen = ScriptedGenerator(script)
    qs = [query(i, f"query number {i}: weather in Paris?") for i in range(4)]
    ev = EvolveConfig()
    with_tools, rej_tools = evolve.generate_tools(gen, qs, m=2, sampling=ev.tool_sampling(0), progress=False)
    sampled = evolve.sample_invocations(gen, with_tools, ev.invocation_sampling(1).with_(n=5), progress=False)
    assert all(len(s["samples"]) == 5 for s in sampled)
    voted_items, rej_vote, records = evolve.vote_items(sampled, threshold=0.6)
    kept, rej_rules = evolve.rule_filter(voted_items)
    samples, trip = evolve.build_triplets(kept, [], replay_share=0.3)
    rejected = rej_tools + rej_vote + rej_rules
    report = evolve.audit(qs, with_tools, records, kept, rejected, trip)
    assert report["queries"] == 4 and report["with_tools"] == 2 and report["kept"] == 1
    assert report["rejected"] == 3
    assert report["rejected_by_step"] == {"tools": {"bad_json": 2}, "vote": {"no_valid": 1}}
    assert rej_vote[0]["invalid"] == {"rule:unknown_function": 5}
    assert report["vote_agreement_hist"] == {"0/5": 1, "4/5": 1}
    assert report["tools_generated"] == 3 and report["distinct_tool_names"] == 2
    assert report["calls_per_sample"] == {"1": 1}
    assert report["training_samples"]["tasks"]["replay"] == 0 and len(samples) >= 2
    json.dumps(report)  # the audit is JSON
