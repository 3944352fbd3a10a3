"""Hermetic tests of the data package on small hand-written records of every source shape (no shared data)."""

from __future__ import annotations

import json
import warnings

import pytest

from open_toolace.data import (
    detect_format,
    example_query,
    load_examples,
    make_example,
    read_examples,
    validate_example,
    write_examples,
)
from open_toolace.data.bfcl import calls_from_ground_truth, first_acceptable
from open_toolace.data.instruct import _apibank_doc, apibank_calls, toolrl_calls
from open_toolace.data.sources import iter_records
from open_toolace.formats import ToolCall
from open_toolace.io import DataFileError

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def _write(path, obj, jsonl=False):
    if jsonl:
        path.write_text("".join(json.dumps(r) + "\n" for r in obj))
    else:
        path.write_text(json.dumps(obj, indent=2))
    return path


# ---------------------------------------------------------------- records and files


def test_make_and_validate_example():
    ex = make_example("a", [{"role": "user", "content": "weather in Paris?"}], [WEATHER], [], source="t")
    assert validate_example(ex) == [] and example_query(ex) == "weather in Paris?"
    assert validate_example({**ex, "calls": None}) == []  # unlabeled
    bad = {
        **ex,
        "messages": [{"role": "assistant", "content": "x"}],
        "calls": [{"name": "f", "arguments": {"x": float("nan")}}],
    }
    problems = validate_example(bad)
    assert any("last message" in p for p in problems) and any("JSON-safe" in p for p in problems)
    assert validate_example({k: v for k, v in ex.items() if k != "calls"}) == [
        "'calls' is missing (use [] for 'no call' and null for unlabeled)"
    ]


def test_iter_records_lines_for_arrays_and_jsonl(tmp_path):
    arr = _write(
        tmp_path / "a.json", [{"x": 1}, {"x": 2}, {"x": 3}]
    )  # indent=2: records start on lines 2, 5, 8
    assert [(line, i) for line, i, _ in iter_records(arr)] == [(2, 0), (5, 1), (8, 2)]
    jl = tmp_path / "b.jsonl"
    jl.write_text('{"x": 1}\n\n{"x": oops}\n{"x": 3}\n')
    items = list(iter_records(jl))
    assert items[0] == (1, 0, {"x": 1}) and items[2] == (4, 2, {"x": 3})
    assert items[1]["line"] == 3 and items[1]["reason"] == "bad_json" and items[1]["record"] == '{"x": oops}'


@pytest.mark.parametrize(
    "text,where",
    [
        ('[{"x": 1},\n {"x": 2,,}]', ":2:"),  # a JSON array that does not parse: the whole file is unreadable
        ('[{"x": 1}] trailing', ":1:"),
        ("name,age\nbob,3\n", ":1:"),  # not JSON at all
    ],
)
def test_unreadable_files_raise_with_path_and_line(tmp_path, text, where):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(DataFileError) as e:
        list(iter_records(p))
    assert str(p) + where in str(e.value)
    with pytest.raises(DataFileError):
        list(iter_records(tmp_path / "missing.json"))


def test_write_examples_refuses_invalid_and_load_warns_on_rejects(tmp_path):
    good = make_example(
        "a",
        [{"role": "user", "content": "q"}],
        [WEATHER],
        [{"name": "get_weather", "arguments": {"city": "Paris"}}],
        source="t",
    )
    with pytest.raises(ValueError, match="example #1"):
        write_examples(tmp_path / "x.jsonl", [good, {**good, "calls": "nope"}])
    assert not (tmp_path / "x.jsonl").exists()  # nothing half-written
    p = tmp_path / "y.jsonl"
    assert write_examples(p, [good]) == 1
    assert load_examples(p) == [good]
    with open(p, "a") as f:
        f.write('{"id": "b", "messages": []}\n')
    with pytest.warns(UserWarning, match="1 record"):
        assert load_examples(p) == [good]
    with pytest.raises(DataFileError, match=r"y.jsonl:2: invalid_example"):
        load_examples(p, strict=True)


# ---------------------------------------------------------------- source shapes


def test_sharegpt_turn_modes_history_and_repair(tmp_path):
    rec = {
        "conversations": [
            {"from": "human", "value": "hi"},
            {"from": "gpt", "value": "Hello! How can I help?"},
            {"from": "human", "value": "weather in Paris and Rome?"},
            {
                "from": "function_call",
                "value": json.dumps(
                    [
                        {"name": "Weather", "arguments": {"city": "Paris"}},
                        {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    ]
                ),
            },
            {"from": "observation", "value": '{"t": 20}'},
            {"from": "gpt", "value": "20 degrees in both."},
        ],
        "tools": json.dumps(
            [
                WEATHER,
                {**WEATHER, "name": "City Weather"},
                {**WEATHER, "name": "Sea Weather", "parameters": {}},
            ]
        ),
    }
    p = _write(tmp_path / "s.json", [rec])
    assert detect_format(p) == "sharegpt"
    ex, rej = read_examples(p)
    assert rej == [] and [(e["meta"]["turn"], e["meta"]["kind"]) for e in ex] == [(1, "no_call"), (3, "call")]
    call = ex[1]
    # "Weather" ends two tool names, but only "City Weather" has a 'city' parameter: repaired, and said so
    assert call["calls"] == [
        {"name": "City Weather", "arguments": {"city": "Paris"}},
        {"name": "get_weather", "arguments": {"city": "Rome"}},
    ]
    assert call["meta"]["repaired_names"] == {"Weather": "City Weather"}
    assert [m["role"] for m in call["messages"]] == ["user", "assistant", "user"]
    ex_all, _ = read_examples(p, turns="all")
    assert [e["meta"]["kind"] for e in ex_all] == ["no_call", "call", "post_tool_answer"]
    # a name that is not an identifier makes the history turn JSON instead of pythonic
    assert json.loads(ex_all[2]["messages"][-2]["content"]) == call["calls"]
    ex_calls, _ = read_examples(p, turns="calls", repair_names=False)
    assert len(ex_calls) == 1 and ex_calls[0]["calls"][0]["name"] == "Weather"


def test_sharegpt_bad_turns_are_rejected_with_line(tmp_path):
    recs = [
        {
            "conversations": [
                {"from": "human", "value": "x"},
                {"from": "function_call", "value": '{"name": "get_weather", "arguments": {'},
            ],
            "tools": [WEATHER],
        },
        {"conversations": [{"from": "martian", "value": "x"}], "tools": [WEATHER]},
        {
            "conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}],
            "tools": "[{broken",
        },
        {"no": "conversations"},
    ]
    p = _write(tmp_path / "s.json", recs)
    ex, rej = read_examples(p, "sharegpt")
    reasons = [(r["line"], r["reason"]) for r in rej]
    assert ex == []
    assert reasons[0][1].startswith("bad_call:") and reasons[0][0] == 2
    # one reject per problem: the record whose only turn was rejected is not reported twice
    assert [r for _, r in reasons[1:]] == ["bad_turn", "bad_tool", "bad_record"]


def test_toolrl_record(tmp_path):
    instruction = (
        "You are a helpful assistant.\n\n**Available Tools**\nIn your response, you can use the following tools:\n"
        '1. Name: Get Weather\nDescription: Weather for a city\nParameters: {"city": {"description": "City", "type": "string", "default": ""}}\n'
        "2. Name: Ping\nDescription: Ping a host\nParameters: {}\n\n**Steps for Each Turn**\n..."
    )
    rec = {
        "instruction": instruction,
        "input": "**Dialogue Records History**\n<user> ping it </user>\n\n<think> t </think>\n<tool_call>\n"
        '{"name": "Ping", "parameters": {}}\n</tool_call>\n<obs> ok </obs>\n\n<user> weather in Oslo and Bergen? </user>',
        "output": '<think> two cities </think>\n<tool_call>\n{"name": "Get Weather", "parameters": {"city": "Oslo"}}\n'
        '{"name": "Get Weather", "parameters": {"city": "Bergen"}}\n</tool_call>',
    }
    p = _write(
        tmp_path / "t.json",
        [
            rec,
            {**rec, "output": "<think> x </think>\n<response> Sure. </response>"},
            {**rec, "output": "<tool_call>\n{oops\n</tool_call>"},
        ],
    )
    assert detect_format(p) == "toolrl"
    ex, rej = read_examples(p)
    assert [t["name"] for t in ex[0]["tools"]] == ["Get Weather", "Ping"]
    assert ex[0]["calls"] == [
        {"name": "Get Weather", "arguments": {"city": "Oslo"}},
        {"name": "Get Weather", "arguments": {"city": "Bergen"}},
    ]
    assert [m["role"] for m in ex[0]["messages"]] == ["user", "assistant", "tool", "user"]
    assert ex[0]["messages"][1]["content"] == "[Ping()]" and ex[0]["meta"]["reasoning"] == "two cities"
    assert ex[1]["calls"] == [] and ex[1]["meta"]["kind"] == "no_call" and ex[1]["meta"]["answer"] == "Sure."
    assert [r["reason"] for r in rej] == ["bad_call:bad_json"] and rej[0]["line"] > ex[1]["meta"]["line"]
    assert toolrl_calls('{"name": "a", "arguments": "{\\"x\\": 1}"}')[0].arguments == {"x": 1}


def test_apibank_dialect():
    assert apibank_calls("[A(location=New York, n=2, flag=True)]") == (
        [ToolCall("A", {"location": "New York", "n": 2, "flag": True})],
        True,
    )
    calls, lenient = apibank_calls("[A(q='a, b=c'), B(x=[1, 2])]")
    assert not lenient and [c.to_dict() for c in calls] == [
        {"name": "A", "arguments": {"q": "a, b=c"}},
        {"name": "B", "arguments": {"x": [1, 2]}},
    ]
    assert apibank_calls("Loc(location=New York)")[0][0].arguments == {"location": "New York"}  # no brackets
    odd = apibank_calls("[A(p=(1, 2), s={1, 2}, when=2034-01-01 10:00:00, x=os.system('x'))]")[0][0].arguments
    assert odd == {"p": [1, 2], "s": "{1, 2}", "when": "2034-01-01 10:00:00", "x": "os.system('x')"}
    doc = _apibank_doc(
        "{'name': 'T', 'description': 'the user's pick', 'input_parameters': {'a': {'type': str, 'description': 'x'}}, 'output_parameters': {}}"
    )
    assert (
        doc["input_parameters"] == {"a": {"type": "str", "description": "x"}}
        and doc["description"] == "the user's pick"
    )
    assert (
        _apibank_doc("{'name': 'T', 'description': 'd', 'input_parameters': {'none'}}")["input_parameters"]
        == {}
    )
    assert _apibank_doc("__import__('os').system('echo hi')") is None  # parsed as a literal, never run


def test_apibank_record(tmp_path):
    doc = {
        "apiCode": "ToolSearcher",
        "description": "Search tools.",
        "parameters": {"keywords": {"type": "str", "description": "kw"}},
        "response": {},
    }
    found = "{'name': 'Weather', 'description': 'Weather.', 'input_parameters': {'city': {'type': 'str', 'description': 'c'}}, 'output_parameters': {}}"
    base = (
        json.dumps(doc)
        + "\nUser: weather in Paris?\nAPI-Request: [ToolSearcher(keywords='weather')]->"
        + found
        + "\n"
    )
    recs = [
        {
            "instruction": "Generate an API request",
            "input": base + "Generate API Request: ",
            "output": "API-Request: [Weather(city=Paris)]",
        },
        {
            "instruction": "Generate a response",
            "input": base + "API-Request: [Weather(city='Paris')]->{'t': 20}\nGenerate AI Response: ",
            "output": "AI: It is 20 degrees.",
        },
        {"instruction": "x", "input": base, "output": "API-Request: [Weather(city="},
    ]
    p = _write(tmp_path / "a.json", recs)
    assert detect_format(p) == "apibank"
    ex, rej = read_examples(p)
    assert (
        ex[0]["calls"] == [{"name": "Weather", "arguments": {"city": "Paris"}}]
        and ex[0]["meta"]["lenient_parse"]
    )
    assert [t["name"] for t in ex[0]["tools"]] == ["ToolSearcher", "Weather"]
    assert (
        ex[1]["calls"] == []
        and ex[1]["meta"]["kind"] == "post_tool_answer"
        and ex[1]["meta"]["answer"] == "It is 20 degrees."
    )
    assert [r["reason"] for r in rej] == ["bad_call:syntax"]


def test_sealtools_record_and_missing_tool_file(tmp_path):
    tools = [
        {
            "api_name": "getA",
            "api_description": "A",
            "field": "x/y",
            "parameters": {"q": {"type": "str", "description": "q"}},
            "required": ["q"],
            "responses": {},
        },
        {
            "api_name": "getB",
            "api_description": "B",
            "field": "x/z",
            "parameters": {},
            "required": [],
            "responses": {},
        },
    ]
    queries = [
        {
            "id": "dev-easy-0",
            "query": "a for cats",
            "calling": [{"api": "getA", "parameters": {"q": "cats"}, "responses": ["API_call_0"]}],
        },
        {"id": "dev-easy-1", "query": "?", "calling": [{"api": "getZ", "parameters": {}, "responses": []}]},
    ]
    q = _write(tmp_path / "dev.jsonl", queries, jsonl=True)
    with pytest.raises(DataFileError, match="--tools"):
        read_examples(q, "sealtools")
    _write(tmp_path / "tool.jsonl", tools, jsonl=True)  # found beside the queries
    assert detect_format(q) == "sealtools"
    ex, rej = read_examples(q)
    assert ex[0]["calls"] == [{"name": "getA", "arguments": {"q": "cats"}}] and [
        t["name"] for t in ex[0]["tools"]
    ] == ["getA"]
    assert [(r["line"], r["reason"]) for r in rej] == [(2, "unknown_tool")]
    ex2, _ = read_examples(q, distractors=1)
    assert {t["name"] for t in ex2[0]["tools"]} == {"getA", "getB"}


def test_bfcl_ground_truth_labels():
    assert first_acceptable(["units", ""]) == ("units", True)
    assert first_acceptable(["", 0]) == (None, False)  # "" first: the argument may be omitted
    assert first_acceptable([]) == (None, False)
    gt = [
        {
            "order": {
                "items": [[{"item": ["burgers"], "qty": [5, 6], "note": [""]}]],
                "prefs": [{"size": ["large"], "milk": ["", "oat"]}],
                "when": ["", "now"],
            }
        }
    ]
    assert [c.to_dict() for c in calls_from_ground_truth(gt)] == [
        {"name": "order", "arguments": {"items": [{"item": "burgers", "qty": 5}], "prefs": {"size": "large"}}}
    ]
    with pytest.raises(ValueError):
        calls_from_ground_truth({"not": "a list"})


def test_bfcl_files_with_own_answer_file(tmp_path):
    (tmp_path / "possible_answer").mkdir()
    q = [
        {
            "id": "simple_python_0",
            "question": [[{"role": "user", "content": "weather in Paris"}]],
            "function": [WEATHER],
        },
        {"id": "simple_python_1", "question": [[{"role": "user", "content": "?"}]], "function": [WEATHER]},
        {
            "id": "multi_turn_base_0",
            "question": [[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]],
            "path": [],
        },
    ]
    a = [{"id": "simple_python_0", "ground_truth": [{"get_weather": {"city": ["Paris", "paris"]}}]}]
    qp = _write(tmp_path / "BFCL_v4_x.json", q, jsonl=True)
    _write(tmp_path / "possible_answer" / "BFCL_v4_x.json", a, jsonl=True)
    assert detect_format(qp) == "bfcl"
    ex, rej = read_examples(qp)
    assert ex[0]["calls"] == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    assert (
        ex[0]["meta"]["possible_answer"] == a[0]["ground_truth"]
        and ex[0]["meta"]["category"] == "simple_python"
    )
    assert [(r["line"], r["reason"]) for r in rej] == [(2, "no_answer"), (3, "no_functions")]
    unlabeled, _ = read_examples(qp, answers=False)
    assert [e["calls"] for e in unlabeled] == [None, None]


def test_unknown_option_and_format_are_errors(tmp_path):
    p = _write(tmp_path / "s.json", [{"conversations": [{"from": "human", "value": "x"}], "tools": []}])
    with pytest.raises(TypeError):
        read_examples(p, distractors=2)  # a Seal-Tools option given to a ShareGPT file
    with pytest.raises(ValueError, match="unknown format"):
        read_examples(p, "csv")
    odd = _write(tmp_path / "odd.json", [{"hello": 1}])
    with pytest.raises(DataFileError, match="cannot detect"):
        detect_format(odd)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_examples(p)[0] == []
