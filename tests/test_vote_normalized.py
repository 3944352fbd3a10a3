"""The normalized call form (formats/normalize.py) and the majority vote over normalized, valid samples
(evolve/filter.py): pure functions, no model, milliseconds."""

from __future__ import annotations

import json

import pytest

from open_toolace import evolve
from open_toolace.formats import (
    ToolCall,
    normalize_call,
    normalize_calls,
    normalize_date,
    normalize_value,
    parse_calls,
    standardize_string,
)

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "default": 1},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "stops": {"type": "array", "items": {"type": "string"}},
            "filter": {
                "type": "object",
                "properties": {"min": {"type": "number"}, "exact": {"type": "boolean", "default": False}},
            },
            "anything": {"description": "no type"},
        },
        "required": ["city"],
    },
}
BOOK = {
    "name": "book",
    "description": "Book a table.",
    "parameters": {
        "type": "object",
        "properties": {"date": {"type": "string"}, "people": {"type": "integer"}},
        "required": ["date"],
    },
}
TOOLS = [WEATHER, BOOK]


def key(text: str, tools=TOOLS) -> str:
    return normalize_calls(parse_calls(text), tools)


# ----------------------------------------------------------------------------- normaliser


def test_strings_compare_as_bfcl_standardize_string():
    same = ['[get_weather(city="Paris")]', '[get_weather(city="paris")]', '[get_weather(city="Paris ")]']
    same += ['[get_weather(city="P.a-r_is")]', "[get_weather(city='PARIS')]"]
    assert len({key(t) for t in same}) == 1
    assert key('[get_weather(city="Paris")]') != key('[get_weather(city="Lyon")]')
    assert standardize_string("New York, NY") == "newyorkny"
    assert standardize_string("it's") == 'it"s', "BFCL turns single quotes into double ones"


def test_standardize_string_matches_bfcl_checker():
    """Our copy of the rule must agree with the installed checker's (skipped where bfcl_eval is absent)."""
    checker = pytest.importorskip("bfcl_eval.eval_checker.ast_eval.ast_checker")
    for s in ["Paris ", "April 1, 2024", "a/b-c_d*e^f.g", "It's", "ÉTÉ  x", ""]:
        assert standardize_string(s) == checker.standardize_string(s), s


def test_numbers_by_value_and_numeric_strings_for_typed_params():
    assert key("[get_weather(city='x', days=5)]") == key("[get_weather(city='x', days=5.0)]")
    assert key("[get_weather(city='x', days=5)]") == key("[get_weather(city='x', days='5')]")
    assert key("[get_weather(city='x', days=5)]") != key("[get_weather(city='x', days=6)]")
    assert normalize_value("5", {"type": "integer"}) == 5
    assert normalize_value("5.0", {"type": "integer"}) == 5
    assert normalize_value("2.5", {"type": "number"}) == 2.5
    assert normalize_value("5", {"type": "string"}) == "5", "a string parameter keeps its string"
    assert normalize_value("5", None) == "5", "no schema: no guess"
    assert normalize_value("true", {"type": "boolean"}) is True
    # booleans stay distinct from ints, in the key too
    assert json.dumps(normalize_value(True)) != json.dumps(normalize_value(1))


def test_optional_argument_at_its_default_is_absent():
    base = key("[get_weather(city='Paris')]")
    assert key("[get_weather(city='Paris', days=1)]") == base
    assert key("[get_weather(city='Paris', days=1.0, unit='Celsius')]") == base
    assert key("[get_weather(city='Paris', unit=None)]") == base, "None for an optional param is 'not given'"
    assert key("[get_weather(city='Paris', days=2)]") != base
    # without tools there is no schema, so no default: the argument counts
    assert key("[get_weather(city='Paris', days=1)]", None) != key("[get_weather(city='Paris')]", None)


def test_call_order_is_free_repeats_count():
    a = key("[get_weather(city='Paris'), book(date='2025-03-01')]")
    assert a == key("[book(date='2025-03-01'), get_weather(city='paris')]")
    assert a != key("[get_weather(city='Paris')]")
    twice = key("[get_weather(city='Paris'), get_weather(city='Paris')]")
    assert twice != key("[get_weather(city='Paris')]")


def test_nested_values_and_unique_item_arrays():
    a = key("[get_weather(city='x', filter={'min': 1, 'exact': False})]")
    assert a == key("[get_weather(city='x', filter={'min': 1.0})]"), "nested default dropped, 1 == 1.0"
    assert key("[get_weather(city='x', tags=['Sun', 'rain'])]") == key(
        "[get_weather(city='x', tags=['Rain', 'sun'])]"
    ), "uniqueItems: a set, order free"
    assert key("[get_weather(city='x', stops=['a', 'b'])]") != key(
        "[get_weather(city='x', stops=['b', 'a'])]"
    ), "a plain array keeps its order"
    generic = normalize_value({"K": ["A b", {"z": 2.0}]})
    assert generic == {"K": ["ab", {"z": 2}]}, "dict keys kept as written, values normalised"


def test_dates_to_iso_conservatively():
    for s in ["2025-03-01", "2025/3/1", "March 1, 2025", "Mar 1 2025", "mar. 1st, 2025", "1 March 2025"]:
        assert normalize_date(s) == "2025-03-01", s
    assert normalize_date("13/03/2025") == normalize_date("03/13/2025") == "2025-03-13"
    assert normalize_date("03/01/2025") is None, "month/day or day/month: undecidable, left alone"
    assert normalize_date("Feb 30, 2025") is None and normalize_date("next Friday") is None
    assert normalize_date("2025-03-01T10:00") is None, "only a whole-string date"
    assert key("[book(date='March 1, 2025')]") == key("[book(date='2025-03-01')]")
    assert key("[book(date='March 1, 2025')]") != key("[book(date='March 2, 2025')]")


def test_unknown_tool_and_argument_get_generic_rules():
    assert key("[nope(a='X Y', b=2.0)]") == key("[nope(b=2, a='xy')]")
    assert key("[get_weather(city='x', extra='A')]") == key("[get_weather(city='x', extra='a')]")
    assert normalize_call(ToolCall("nope", {"a": 1})) == normalize_call(ToolCall("nope", {"a": 1.0}))


# ----------------------------------------------------------------------------- vote


def vote(samples, threshold=0.6, tools=TOOLS, **kw):
    return evolve.majority_vote(samples, threshold, tools, **kw)


def test_five_different_valid_answers_are_all_different_not_a_tie():
    v = vote([f"[get_weather(city='{c}')]" for c in ["Paris", "Lyon", "Rome", "Oslo", "Lima"]])
    assert v.winner is None and v.reason == "all_different"
    assert v.valid == 5 and len(v.classes) == 5 and v.votes == 1


def test_two_two_one_is_a_tie():
    v = vote(["[get_weather(city='Paris')]"] * 2 + ["[get_weather(city='Lyon')]"] * 2 + ["[book(date='x')]"])
    assert v.winner is None and v.reason == "tie" and v.votes == 2 and v.agreement == pytest.approx(0.4)


def test_surface_forms_share_a_class_and_the_winner_is_the_most_frequent_original():
    samples = [
        "[get_weather(city='paris')]",
        "[get_weather(city='Paris')]",
        "[get_weather(city='Paris', days=1)]",
        "[get_weather(city='Paris')]",
        "[get_weather(city='Lyon')]",
    ]
    v = vote(samples)
    assert v.reason is None and v.votes == 4 and v.valid == 5 and v.agreement == pytest.approx(0.8)
    assert v.winner == [ToolCall("get_weather", {"city": "Paris"})], "the exact form written most often"
    assert len(v.classes) == 2 and list(v.classes.values()) == [4, 1]
    assert sum(v.counts.values()) == 5 and len(v.counts) == 4, "counts stay per exact answer"


def test_agreement_is_over_valid_samples_and_invalid_ones_are_counted_by_reason():
    samples = [
        "[get_weather(city='Paris')]",
        "[get_weather(city='Paris')]",
        "[get_forecast(city='Paris')]",  # hallucinated tool
        "[get_weather(days=2)]",  # misses a required argument
        "[get_weather(city=",  # truncated
    ]
    v = vote(samples)
    assert v.reason is None and v.winner == [ToolCall("get_weather", {"city": "Paris"})]
    assert v.valid == 2 and v.votes == 2 and v.total == 5 and v.agreement == pytest.approx(1.0)
    assert v.invalid == {"rule:unknown_function": 1, "rule:missing_required": 1, "parse:syntax": 1}
    assert v.parse_errors == {"syntax": 1}
    assert sum(v.invalid.values()) + v.valid == v.total


def test_a_parameter_named_after_its_value_is_no_vote():
    # "weather in Paris and Oslo" collapsed into one call with a parameter per city: invalid, so the two
    # parallel answers win instead of losing 2 to 3
    elements = {**WEATHER, "parameters": {**WEATHER["parameters"], "additionalProperties": True}}
    collapsed = "[get_weather(city='Paris', oslo='Oslo')]"
    parallel = "[get_weather(city='Paris'), get_weather(city='Oslo')]"
    v = vote([collapsed] * 3 + [parallel] * 2, tools=[elements])
    assert v.winner == parse_calls(parallel) and v.valid == 2
    assert v.invalid == {"rule:parameter_named_after_value": 3}
    assert vote(["[get_weather(city='Paris', unit='celsius')]"] * 2, tools=[elements]).winner  # enum: fine


def test_one_valid_sample_cannot_win_alone():
    v = vote(["[get_weather(city='Paris')]"] + ["[get_weather(city="] * 4)
    assert v.winner is None and v.reason == "below_threshold" and v.agreement == 1.0 and v.votes == 1
    assert vote(["[get_weather(city='Paris')]"], min_votes=1).winner is not None


def test_below_threshold_by_share():
    v = vote(["[get_weather(city='Paris')]"] * 2 + ["[get_weather(city='Lyon')]"], threshold=0.7)
    assert v.winner is None and v.reason == "below_threshold" and v.agreement == pytest.approx(2 / 3)


def test_no_samples_and_no_valid():
    assert vote([]).reason == "no_samples"
    v = vote(["f(", "[g(x=__import__('os'))]", '[{"name": 5}]'])
    assert v.reason == "no_valid" and v.valid == 0 and v.agreement == 0.0 and sum(v.invalid.values()) == 3
    assert all(k.startswith("parse:") for k in v.invalid)
    v = vote(["[get_forecast(city='Paris')]"] * 5)
    assert v.reason == "no_valid" and v.invalid == {"rule:unknown_function": 5}


def test_odd_samples_never_crash_the_vote():
    class Boom:
        name = "x"

    v = vote([42, [{"no": "name"}], [Boom()], None, "[get_weather(city='Paris')]"])
    assert v.valid == 1 and sum(v.invalid.values()) == 4 and v.reason == "below_threshold"


def test_vote_items_uses_each_items_tools_and_records_the_new_fields():
    items = [
        {
            "id": "a",
            "tools": [WEATHER],
            "samples": ["[get_weather(city='Paris')]"] * 3 + ["[book(date='x')]"] * 2,
        },
        {
            "id": "b",
            "tools": [BOOK],
            "samples": ["[book(date='x')]"] * 3 + ["[get_weather(city='Paris')]"] * 2,
        },
        {"id": "c", "tools": [{"broken": True}], "samples": ["[book(date='x')]"] * 5},
    ]
    kept, rejected, records = evolve.vote_items(items, threshold=0.6)
    assert [(k["id"], k["calls"][0]["name"]) for k in kept] == [("a", "get_weather"), ("b", "book")]
    assert [k["meta"]["agreement"] for k in kept] == [1.0, 1.0], "other items' tools are invalid here"
    assert [(r["id"], r["reason"]) for r in rejected] == [("c", "no_valid")]
    assert rejected[0]["invalid"] == {"rule:unknown_function": 5}
    rec = records[0]
    assert {
        "agreement",
        "votes",
        "total",
        "winner",
        "reason",
        "counts",
        "valid",
        "invalid",
        "classes",
    } <= set(rec)
    assert rec["valid"] == 3 and rec["invalid"] == {"rule:unknown_function": 2} and rec["total"] == 5
    json.dumps(records)
    report = evolve.audit([], [], records, kept, rejected)
    assert report["vote_agreement_hist"] == {"0/5": 1, "3/5": 2}


# ----------------------------------------------------------------------------- relaxing tools to their samples

PH = {
    "name": "solution_ph",
    "description": "pH of a solution.",
    "parameters": {
        "type": "object",
        "properties": {
            "concentration": {"type": "integer"},
            "unit": {"type": "string"},
            "n": {"type": "integer"},
        },
        "required": ["concentration", "unit"],
    },
}


def test_relax_tools_drops_requirements_most_calls_omit_and_widens_integers_given_fractions():
    samples = ["[solution_ph(concentration=0.045)]"] * 3 + ["[solution_ph(concentration=1, unit='M', n=2)]"]
    samples += ["[solution_ph(concentration=", "[other(x=1)]"]  # unparseable and foreign: no evidence
    tools, repairs = evolve.relax_tools([PH, {"broken": True}], samples)
    params = tools[0]["parameters"]
    assert (
        params["required"] == ["concentration"] and params["properties"]["concentration"]["type"] == "number"
    )
    assert params["properties"]["n"]["type"] == "integer" and tools[1] == {"broken": True}
    assert repairs == [
        {"tool": "solution_ph", "param": "unit", "kind": "required_dropped", "calls": 4, "without": 3},
        {
            "tool": "solution_ph",
            "param": "concentration",
            "kind": "integer_to_number",
            "calls": 4,
            "without": 3,
        },
    ]
    assert PH["parameters"]["required"] == ["concentration", "unit"], "the input is not modified"
    # one call in four leaving a parameter out is not evidence; a tool nobody calls stays as it is
    few = ["[solution_ph(concentration=2, unit='M')]"] * 3 + ["[solution_ph(concentration=2)]"]
    assert evolve.relax_tools([PH], few) == ([PH], [])
    assert evolve.relax_tools([PH], []) == ([PH], [])


def test_vote_items_relax_turns_no_valid_into_a_winner_with_the_relaxed_tools():
    item = {"id": "p", "tools": [PH], "samples": ["[solution_ph(concentration=0.045)]"] * 4 + ["[x("]}
    kept, rejected, _ = evolve.vote_items([item])
    assert not kept and rejected[0]["reason"] == "no_valid"
    kept, rejected, records = evolve.vote_items([item], relax=True)
    assert not rejected and kept[0]["calls"] == [
        {"name": "solution_ph", "arguments": {"concentration": 0.045}}
    ]
    assert kept[0]["tools"][0]["parameters"]["required"] == ["concentration"]
    assert [r["kind"] for r in kept[0]["meta"]["tool_relaxed"]] == ["required_dropped", "integer_to_number"]
    assert records[0]["relaxed"] == kept[0]["meta"]["tool_relaxed"]
    assert evolve.rule_filter(kept)[0] == kept, "the relaxed tools pass the rules the vote applied"
