"""Repair of generated tool lists (evolve/repair.py, evolve/json_repair.py, the readers in evolve/sample.py):
broken outputs a 135M model writes, each repaired or rejected with its reason. No model, milliseconds."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import CONVERT, WEATHER
from open_toolace import evolve, prompts
from open_toolace.checks import check_tools
from open_toolace.evolve.json_repair import repair_json_text
from open_toolace.evolve.repair import (
    REPAIR_KINDS,
    collapse_repetition,
    describe_name,
    fix_name,
    over_specific_name,
    query_values,
)
from open_toolace.evolve.sample import read_tool_list, read_tools
from open_toolace.formats.tools import parse_tool
from open_toolace.generation import Sampling
from open_toolace.generation.fake import FakeGenerator


def kinds(got) -> list[tuple[int | None, str]]:
    return [(r["index"], r["kind"]) for r in got.repairs]


def reason_of(text: str, **kw) -> str:
    with pytest.raises(ValueError) as e:
        read_tool_list(text, **kw)
    return e.value.args[0]


# ----------------------------------------------------------------------------- syntax repairs


def test_python_literal_single_quotes_and_capitalised_constants():
    text = (
        "Here you go:\n[{'name': 'get_weather', 'description': 'The user's weather.', 'parameters': "
        "{'type': 'object', 'properties': {'city': {'type': 'string', 'description': 'A \"city\"'}, "
        "'metric': {'type': 'boolean', 'default': True}, 'day': {'type': 'string', 'default': None}}, "
        "'required': ['city']}}]\nHope it helps!"
    )
    got = read_tool_list(text)
    tool = got.tools[0]
    assert tool["description"] == "The user's weather."
    assert tool["parameters"]["properties"]["city"]["description"] == 'A "city"'
    assert tool["parameters"]["properties"]["metric"]["default"] is True
    assert kinds(got) == [(0, "python_literal")] and got.problems == []


def test_trailing_and_missing_commas():
    text = '[{"name": "get_weather", "description": "W.", "parameters": {"properties": {"city": {"type": "string"},},},},]'
    got = read_tool_list(text)
    assert got.tools[0]["parameters"]["properties"] == {"city": {"type": "string"}}
    assert (0, "trailing_comma") in kinds(got) and (None, "trailing_comma") in kinds(got)
    got = read_tool_list(
        json.dumps(WEATHER) + "\n" + json.dumps(CONVERT).replace(', "parameters"', ' "parameters"')
    )
    assert [t["name"] for t in got.tools] == ["get_weather", "convert_currency"]
    assert kinds(got) == [(1, "missing_comma")]


def test_closed_brackets_of_a_tool_cut_inside_its_parameters():
    full = json.dumps([CONVERT, WEATHER])
    cut = full[: full.index('"city"]') + len('"city"')]  # cut inside the last tool's `required`
    got = read_tool_list("```json\n" + cut)
    assert [t["name"] for t in got.tools] == ["convert_currency", "get_weather"]
    assert got.tools[1]["parameters"]["required"] == ["city"]
    assert kinds(got) == [(1, "closed_brackets")] and got.problems == []
    # cut inside a parameter's schema: the half-written parameter is dropped, never completed
    cut = full[: full.index('"unit": {"type"') + len('"unit": {"ty')]
    got = read_tool_list(cut)
    assert list(got.tools[1]["parameters"]["properties"]) == ["city"]
    assert ("dropped_property" in {r["kind"] for r in got.repairs}) and (1, "closed_brackets") in kinds(got)


def test_a_tool_cut_before_its_parameters_is_not_kept():
    head = json.dumps([CONVERT])[:-1]
    for tail in (', {"name": "get_wea', ', {"name": "get_weather", "description": "Cur', ', {"name": "x"'):
        got = read_tool_list(head + tail)
        assert [t["name"] for t in got.tools] == ["convert_currency"], tail
        assert got.problems[0]["reason"] == "truncated_list" and got.repairs == []
    assert reason_of('[{"name": "get_weather", "descr') == "bad_json"  # nothing complete before the cut


def test_bare_objects_with_no_list_are_a_list():
    text = json.dumps(WEATHER) + ",\n" + json.dumps(CONVERT) + ",\n{'name': 'x', 'descr"
    got = read_tool_list(text)
    assert [t["name"] for t in got.tools] == ["get_weather", "convert_currency"]
    assert got.problems[0]["reason"] == "truncated_list"


def test_the_scan_never_completes_a_value():
    rep = repair_json_text('[{"a": "hel')
    assert rep.text == "[{}]" and rep.closed and rep.cut_depth == 2
    rep = repair_json_text('[{"a": 12')
    assert rep.text == "[{}]", "a number at the cut may be unfinished"
    rep = repair_json_text('[{"a": [1, 2, 3], "b": tru')
    assert rep.text == '[{"a":[1,2,3]}]'
    assert repair_json_text("no json here") is None
    assert repair_json_text('{"a": 1 @ "b": 2}') is None, "a lone object broken in the middle"


def test_every_cut_of_a_good_list_keeps_only_what_was_written():
    full = json.dumps([WEATHER, CONVERT])
    originals = {t["name"]: t for t in (WEATHER, CONVERT)}
    salvaged = 0
    for n in range(len(full) + 1):
        try:
            got = read_tool_list(full[:n])
        except ValueError as e:
            assert e.args[0] in ("bad_json", "no_valid_tool", "not_a_list"), n
            continue
        for tool in got.tools:
            want = originals[tool["name"]]  # a cut name is never completed
            assert tool["description"] == want["description"], n
            props = tool["parameters"]["properties"]
            for p, schema in props.items():
                assert schema.items() <= want["parameters"]["properties"][p].items(), (n, "no value guessed")
            assert set(tool["parameters"].get("required", [])) <= set(want["parameters"]["required"])
            assert check_tools([parse_tool(tool)]) == []
        salvaged += len(got.tools) == 2
    assert salvaged > 20, "the second tool is kept once its parameters were begun"


def test_a_list_cut_short_is_dropped_not_narrowed():
    full = json.dumps([WEATHER])
    got = read_tool_list(full[: full.index('"fahrenheit"') + 4])
    assert got.tools[0]["parameters"]["properties"]["unit"] == {"type": "string"}, "no one-value enum"


_JSONISH = st.text(alphabet=st.sampled_from(list("[]{}\"',: \n\\aeTruFlsN0123.-_x")), max_size=200)


@settings(max_examples=150, deadline=None)
@given(st.one_of(_JSONISH, st.text(max_size=200)))
def test_any_text_is_tools_or_a_reason(text):
    try:
        got = read_tool_list(text, query="weather in Paris", m=2)
    except ValueError as e:
        assert isinstance(e.args[0], str) and len(e.args) == 2
        return
    assert 1 <= len(got.tools) <= 2 and check_tools([parse_tool(t) for t in got.tools]) == []


# ----------------------------------------------------------------------------- tool repairs


def test_duplicate_keys_keep_the_first():
    text = '[{"name": "get_weather", "name": "x", "name": "y", "description": "W.", "description": "Z."}]'
    got = read_tool_list(text)
    assert got.tools[0]["name"] == "get_weather" and got.tools[0]["description"] == "W."
    assert [r["kind"] for r in got.repairs] == ["duplicate_key", "duplicate_key"]
    assert "written 3 times" in got.repairs[0]["detail"]


def test_dropped_property_and_pruned_required():
    tool = {
        "name": "get_weather",
        "description": "Weather.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "description": "The city to look up",  # a description key inside properties
                "shade": {"type": "color"},  # a type with no JSON-Schema equivalent
                "days": 3,
                "when": {"type": "string", "enum": "today"},  # not a valid schema
            },
            "required": ["city", "shade", "zip", "city"],
        },
    }
    got = read_tool_list(json.dumps([tool]))
    params = got.tools[0]["parameters"]
    assert list(params["properties"]) == ["city"] and params["required"] == ["city"]
    dropped = [r["detail"] for r in got.repairs if r["kind"] == "dropped_property"]
    assert len(dropped) == 4 and any("unknown_type" in d for d in dropped)
    assert [r["kind"] for r in got.repairs][-1] == "pruned_required"
    for req in ({"city": True}, [["city"]], "city"):
        odd = dict(WEATHER, parameters=dict(WEATHER["parameters"], required=req))
        got = read_tool_list(json.dumps([odd]))
        assert got.tools[0]["parameters"].get("required", ["city"]) == ["city"], req
        assert kinds(got) == [(0, "pruned_required")]


def test_nested_object_required_is_pruned_not_the_parameter():
    addr = {"type": "object", "properties": {"street": {"type": "string"}}, "required": ["street", "zip"]}
    tool = dict(WEATHER, parameters={"type": "object", "properties": {"address": addr}})
    got = read_tool_list(json.dumps([tool]))
    assert got.tools[0]["parameters"]["properties"]["address"]["required"] == ["street"]
    assert kinds(got) == [(0, "pruned_required")]


def test_every_parameter_broken_is_a_rejection_not_an_empty_tool():
    tool = dict(WEATHER, parameters={"type": "object", "properties": {"a": "str", "b": {"type": "colour"}}})
    with pytest.raises(ValueError) as e:
        read_tool_list(json.dumps([tool]))
    assert e.value.args[0] == "no_valid_tool"
    got = read_tool_list(json.dumps([tool, CONVERT]))
    assert got.problems == [
        {"index": 0, "reason": "broken_parameters", "message": got.problems[0]["message"]}
    ]


def test_filled_description_and_fixed_name():
    tools = [
        {"name": "get weather", "parameters": WEATHER["parameters"]},
        {"name": "math.factorial", "description": "  ", "parameters": {"type": "object", "properties": {}}},
    ]
    got = read_tool_list(json.dumps(tools))
    assert [(t["name"], t["description"]) for t in got.tools] == [
        ("get_weather", "Get weather."),
        ("math.factorial", "Math factorial."),
    ]
    assert kinds(got) == [(0, "fixed_name"), (0, "filled_description"), (1, "filled_description")]
    assert fix_name("get_weather()") == "get_weather" and fix_name("3d render") is None
    assert fix_name("météo") is None and describe_name("getCurrentWeather") == "Get current weather."
    assert reason_of(json.dumps([{"name": "3d render", "description": "x"}])) == "no_valid_tool"


def test_collapsed_repetition():
    assert collapse_repetition("Find and find and find and find the best route") == (
        "Find and find the best route",
        1,
    )
    assert collapse_repetition("very very very very good") == ("very good", 1)
    assert collapse_repetition("It had had an effect.") == ("It had had an effect.", 0)
    assert collapse_repetition("Find and " * 5000 + "the route") == ("Find and the route", 1), "a runaway"
    tool = dict(WEATHER, description="Get the weather. Get the weather. Get the weather. Get the weather.")
    got = read_tool_list(json.dumps([tool]))
    assert got.tools[0]["description"] == "Get the weather."
    assert kinds(got) == [(0, "collapsed_repetition")]


def test_a_list_repeating_one_tool_keeps_the_first():
    got = read_tool_list(json.dumps([WEATHER] * 8 + [CONVERT]))
    assert [t["name"] for t in got.tools] == ["get_weather", "convert_currency"]
    assert [p["reason"] for p in got.problems] == ["duplicate_name"] * 7


# ----------------------------------------------------------------------------- rejections


def test_unrepairable_outputs_keep_their_reason():
    assert reason_of("I cannot help with that.") == "bad_json"
    assert reason_of("42") == "not_a_list"
    assert reason_of("[]") == "no_valid_tool"
    assert reason_of(json.dumps([{"description": "no name"}])) == "no_valid_tool"
    assert reason_of("x" * 100_001) == "too_long"
    assert reason_of('{"name": "f", "parameters": {"type": "object" "properties" {}}}') == "bad_json"


MANY_BAD_PROPS = {f"p{i}": {"type": "strin"} for i in range(1500)}
HOSTILE = [
    "[" * 50_000,
    "{" * 50_000,
    '[{"name": "' + "a" * 99_000,
    "'" * 99_000,
    '"' * 99_000,
    "\\" * 99_000,
    '[{"name": "x", "description": "' + "find and " * 11_000 + '"}]',
    json.dumps([WEATHER] * 300)[:99_000],
    '[{"a": ' * 10_000,
    json.dumps([dict(WEATHER, parameters={"type": "object", "properties": MANY_BAD_PROPS})]),
    "```json\n```",
    "\x00\x01[{\ud800",
    "[{'name': 'f', 'description': 'd', 'parameters': {'type': 'object', 'properties': {'x': {'type': 'string', 'default': 1e999999}}}}]",
]


def test_hostile_outputs_are_recorded_rejections_and_fast():
    qs = [
        {"id": f"h{i}", "messages": [{"role": "user", "content": "weather in Paris"}], "meta": {}}
        for i in range(len(HOSTILE))
    ]
    gen = FakeGenerator(HOSTILE)
    t0 = time.perf_counter()
    kept, rejected = evolve.generate_tools(gen, qs, 3, Sampling(), progress=False)
    assert time.perf_counter() - t0 < 10, "bounded work on ~1 MB of hostile output"
    assert len(kept) + len(rejected) == len(qs)
    assert all(r["step"] == "tools" and r["reason"] != "parse_error" for r in rejected), rejected


# ----------------------------------------------------------------------------- over-specific names


@pytest.mark.parametrize(
    ("name", "query", "rejected"),
    [
        ("get_weather", "What's the weather in Paris?", False),
        ("get_paris_weather", "What's the weather in Paris?", False),  # one value word: kept
        ("get_paris_weather_2025", "What's the weather in Paris?", True),
        ("schedule_papier_renewal_in_nairobi_2025", "Renew my papers in Nairobi in 2025", True),
        ("renew_documents", "Renew my papers in Nairobi in 2025", False),
        ("convert_currency", "Convert 100 USD to EUR", False),
        ("convert_usd_to_eur", "Convert 100 USD to EUR", False),  # all-caps: a kind as often as a value
        ("book_london_paris_flight", "Book a flight from London to Paris", True),
        ("search_flights_from_london", "Book a flight from London to Paris", False),
        ("getLondonParisFlights", "Book a flight from London to Paris", True),
        ("translate_good_morning", "Translate 'good morning' to French", True),
        ("translate_text", "Translate 'good morning' to French", False),
        ("sha256_hash", "Compute the sha256 of 'abc'", False),
        ("get_the_weather", "WHAT IS THE WEATHER IN PARIS", False),
        ("get_john_smith_orders", "Look up the orders of John Smith", True),
        ("lookup_order", "Look up order A1234 for John Smith", False),
        ("real_quick_work_out_volume", "Real quick, work out the final volume of a 5.29 M stock.", True),
        ("get_my_orders", "Please get my orders.", False),  # one filler word: kept
    ],
)
def test_over_specific_name(name, query, rejected):
    assert (over_specific_name(name, query) is not None) == rejected


def test_query_values():
    assert query_values("Book a flight from London to Paris on 2025-05-03") == {
        "london",
        "paris",
        "2025",
        "05",
        "03",
    }
    assert query_values("Paris weather please") == set(), "a capital at the start of a sentence says nothing"


def test_over_specific_and_extra_tools_are_per_tool_problems():
    specific = dict(WEATHER, name="get_paris_weather_2025")
    other = dict(CONVERT, name="get_time", description="Current time.")
    got = read_tool_list(json.dumps([specific, WEATHER, CONVERT, other]), query="weather in Paris", m=2)
    assert [t["name"] for t in got.tools] == ["get_weather", "convert_currency"]
    assert [(p["index"], p["reason"]) for p in got.problems] == [(0, "over_specific_name"), (3, "extra_tool")]
    assert reason_of(json.dumps([specific]), query="weather in Paris") == "over_specific_name"


# ----------------------------------------------------------------------------- generate_tools


def test_generate_tools_records_repairs_with_the_fake_backend():
    outputs = {
        "weather in Paris": "```json\n[{'name': 'get weather', 'parameters': {'type': 'object', "
        "'properties': {'city': {'type': 'string'}, 'description': 'the city'}, 'required': ['city', 'zip']}},"
        "{'name': 'get_paris_weather_2025', 'description': 'W.'}]\n```",
        "convert 5 dollars": json.dumps([CONVERT, WEATHER, dict(WEATHER, name="get_time")]),
        "nothing": "Sorry, I can't.",
    }

    def answer(messages, k):
        return next(out for q, out in outputs.items() if q in messages[-1]["content"])

    gen = FakeGenerator(answer)
    qs = [
        {"id": f"q{i}", "messages": [{"role": "user", "content": q}], "tools": [], "calls": None, "meta": {}}
        for i, q in enumerate(outputs)
    ]
    kept, rejected = evolve.generate_tools(gen, qs, m=2, sampling=Sampling(), progress=False)
    assert "exactly 2" in gen.calls[0]["requests"][0][0]["content"]
    by_id = {it["id"]: it for it in kept}
    q0 = by_id["q0"]
    assert [t["name"] for t in q0["tools"]] == ["get_weather"]
    assert {r["kind"] for r in q0["meta"]["tool_repairs"]} == {
        "python_literal",
        "fixed_name",
        "filled_description",
        "dropped_property",
        "pruned_required",
    }
    assert all(set(r) == {"index", "kind", "detail"} for r in q0["meta"]["tool_repairs"])
    assert {r["kind"] for r in q0["meta"]["tool_repairs"]} <= set(REPAIR_KINDS)
    assert [p["reason"] for p in q0["meta"]["tool_problems"]] == ["over_specific_name"]
    q1 = by_id["q1"]
    assert [t["name"] for t in q1["tools"]] == ["convert_currency", "get_weather"]
    assert q1["meta"]["tool_repairs"] == [] and q1["meta"]["tool_problems"][0]["reason"] == "extra_tool"
    assert [(r["id"], r["reason"]) for r in rejected] == [("q2", "bad_json")]


def test_python_tools_get_the_same_repairs():
    text = (
        "def get_weather(city: str):\n    pass\n\n"
        'def get_time(zone: str):\n    """Time in a zone. Time in a zone. Time in a zone."""\n\n'
        'def get_paris_weather_2025(city: str):\n    """Weather."""\n'
    )
    got = read_tools(text, "python", query="weather in Paris", m=3)
    assert [(t["name"], t["description"]) for t in got.tools] == [
        ("get_weather", "Get weather."),
        ("get_time", "Time in a zone."),
    ]
    assert kinds(got) == [(0, "filled_description"), (1, "collapsed_repetition")]
    assert [p["reason"] for p in got.problems] == ["over_specific_name"]


def test_prompts_ask_for_exactly_m_tools():
    for ps in (None, "lean"):
        text = prompts.render_tool_generation("weather in Paris", 3, prompts=ps)[0]["content"]
        assert "exactly 3" in text and "{" + "m}" not in text
        assert "do not quite fit" not in text
