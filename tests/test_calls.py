"""open_toolace.formats: the accepted forms, render/parse round trips (hypothesis), canonical keys, BFCL form."""

from __future__ import annotations

import ast
import keyword
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import open_toolace.formats as calls_pkg
from open_toolace.formats import (
    CallParseError,
    ToolCall,
    calls_from_bfcl,
    calls_to_bfcl,
    canonical_call,
    canonical_calls,
    is_pythonic_renderable,
    parse_calls,
    render_calls,
    try_parse_calls,
)
from open_toolace.formats.values import REASONS

F = ToolCall

# ---------------------------------------------------------------- accepted forms


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            '[f(a=1, b="x"), pkg.g(c=[1, {"k": None}])]',
            [F("f", {"a": 1, "b": "x"}), F("pkg.g", {"c": [1, {"k": None}]})],
        ),
        ("f(a=1)", [F("f", {"a": 1})]),
        ("f(a=1), g(b=2)", [F("f", {"a": 1}), F("g", {"b": 2})]),
        ("[f()]", [F("f", {})]),
        (
            "[f(a=-1, b=+2.5, c=-0.5e3, d=True, e=None, t=(1, 2))]",
            [F("f", {"a": -1, "b": 2.5, "c": -500.0, "d": True, "e": None, "t": [1, 2]})],
        ),
        ("[a.b.c.d(x='single')]", [F("a.b.c.d", {"x": "single"})]),
        ('{"name": "f", "arguments": {"a": 1}}', [F("f", {"a": 1})]),
        ('{"name": "f", "arguments": "{\\"a\\": 1}"}', [F("f", {"a": 1})]),
        ('{"name": "f", "arguments": ""}', [F("f", {})]),
        ('{"name": "f"}', [F("f", {})]),
        ('{"name": "f", "parameters": {"a": [1, 2]}}', [F("f", {"a": [1, 2]})]),
        (
            '[{"name": "f", "arguments": {}}, {"name": "g", "arguments": {"b": false}}]',
            [F("f", {}), F("g", {"b": False})],
        ),
        (
            '{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\\"a\\": 2}"}}',
            [F("f", {"a": 2})],
        ),
        (
            '{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}',
            [F("f", {})],
        ),
        ("{'name': 'f', 'arguments': {'a': True, 'b': None}}", [F("f", {"a": True, "b": None})]),
        (
            '<tool_call>\n{"name": "Search Managers", "parameters": {"name": "Alex Ferguson"}}\n</tool_call>',
            [F("Search Managers", {"name": "Alex Ferguson"})],
        ),
        (
            '<tool_call>{"name": "a", "arguments": {}}</tool_call>\n<tool_call>{"name": "b", "arguments": {}}</tool_call>',
            [F("a", {}), F("b", {})],
        ),
        (
            '<tool_call>\n{"name": "a", "arguments": {}}\n{"name": "b", "arguments": {"x": 1}}\n</tool_call>',
            [F("a", {}), F("b", {"x": 1})],
        ),
        ("<tool_call>[f(a=1), g(b=2)]</tool_call>", [F("f", {"a": 1}), F("g", {"b": 2})]),
        ("<TOOLCALL>[f(a=1)]</TOOLCALL>", [F("f", {"a": 1})]),
        ("<tool_call>[]</tool_call>", []),
        ('<functioncall> {"name": "calc", "arguments": \'{"a": 5}\'}', [F("calc", {"a": 5})]),
        ("<think>maybe [wrong(a=1)]?</think>\n[right(a=2)]", [F("right", {"a": 2})]),
        ("```python\n[f(a=1)]\n```", [F("f", {"a": 1})]),
        ('```json\n{"name": "f", "arguments": {"a": 1}}\n```', [F("f", {"a": 1})]),
        (
            'Sure! Here you go: [get_weather(city="Paris")] Hope that helps.',
            [F("get_weather", {"city": "Paris"})],
        ),
        ("I will call get_weather(city='Paris') now.", [F("get_weather", {"city": "Paris"})]),
        ("API-Request: [ToolSearcher(keywords='health')]", [F("ToolSearcher", {"keywords": "health"})]),
        ('<|python_tag|>{"name": "f", "parameters": {"x": 1}}<|eom_id|>', [F("f", {"x": 1})]),
        ('{"name": "f", "parameters": {}}; {"name": "g", "parameters": {}}', [F("f", {}), F("g", {})]),
        ("'[f(a=1)]'", [F("f", {"a": 1})]),
        (
            '[f(a="<tool_call>", b="<think>x</think>")]',
            [F("f", {"a": "<tool_call>", "b": "<think>x</think>"})],
        ),
        ("[f(a=1e999)]", [F("f", {"a": math.inf})]),
    ],
)
def test_accepted_forms(text, expected):
    assert parse_calls(text) == expected
    # strict: bools must not come back as ints and vice versa
    assert [canonical_call(c) for c in parse_calls(text)] == [canonical_call(c) for c in expected]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "[]",
        "[ ]",
        "Hello, no tool fits this request.",
        "The list [1, 2] and the set {1}",
        "Use print() here",
        "Paris (France) is nice",
        "[Note] I cannot help with that.",
        "f(x) = x^2 is a parabola.",
        "<think>hmm</think>",
        "```\nno code\n```",
        '{"tool_calls": []}',
    ],
)
def test_no_call(text):
    assert parse_calls(text) == []
    assert try_parse_calls(text) == ([], None)


def test_try_parse_calls_reports_reason():
    assert try_parse_calls("[f(a=x)]") == (None, "non_literal")
    assert try_parse_calls("[f(a=1)]") == ([F("f", {"a": 1})], None)


def test_error_has_reason_and_message():
    with pytest.raises(CallParseError) as ei:
        parse_calls('[f(a=1, b="x)]')
    assert ei.value.reason in REASONS
    assert isinstance(ei.value, ValueError)
    assert ei.value.message and ei.value.reason in str(ei.value)


def test_toolcall_dict_round_trip():
    c = F("pkg.f", {"a": [1, {"b": None}]})
    assert ToolCall.from_dict(c.to_dict()) == c
    assert ToolCall.from_dict({"name": "f", "arguments": '{"x": 1}'}) == F("f", {"x": 1})
    for bad in [
        {"arguments": {}},
        {"name": 3},
        {"name": "f", "arguments": [1]},
        "f",
        [{"name": "f"}, {"name": "g"}],
    ]:
        with pytest.raises(CallParseError):
            ToolCall.from_dict(bad)
    with pytest.raises(TypeError):
        ToolCall("f", [1])  # type: ignore[arg-type]


# ---------------------------------------------------------------- render


def test_render_examples():
    calls = [F("f", {"a": 1, "b": "x"}), F("pkg.g", {"c": [1, {"k": None}], "t": (1, 2.5), "z": True})]
    assert render_calls(calls) == '[f(a=1, b="x"), pkg.g(c=[1, {"k": None}], t=[1, 2.5], z=True)]'
    assert render_calls([]) == "[]"
    assert render_calls([F("f", {"a": math.inf, "b": -math.inf})]) == "[f(a=1e999, b=-1e999)]"
    assert parse_calls(render_calls([F("f", {"a": -math.inf})])) == [F("f", {"a": -math.inf})]


@pytest.mark.parametrize(
    "call, match",
    [
        (F("f", {"a": math.nan}), "NaN"),
        (F("f", {"a": {1: 2}}), "keys must be strings"),
        (F("f", {"a": object()}), "cannot write"),
        (F("f", {"a": 10**5000}), "too long"),
        (F("Search Managers", {}), "style='json'"),
        (F("f", {"from": 1}), "not a Python identifier"),
        (F("class.f", {}), "not a dotted Python identifier"),
    ],
)
def test_render_refuses(call, match):
    with pytest.raises(ValueError, match=match):
        render_calls([call])


def test_render_styles():
    odd = [F("Search Managers", {"from": "x", "Content-Type": 1})]
    assert not is_pythonic_renderable(odd[0])
    assert render_calls(odd, style="auto") == render_calls(odd, style="json")
    assert parse_calls(render_calls(odd, style="auto")) == odd
    ok = [F("f", {"a": 1})]
    assert render_calls(ok, style="auto") == "[f(a=1)]"
    with pytest.raises(ValueError, match="NaN"):
        render_calls([F("f", {"a": math.nan})], style="json")
    with pytest.raises(ValueError, match="unknown render style"):
        render_calls(ok, style="yaml")


def test_render_unicode_identifiers():
    # ast NFKC-normalizes identifiers: "ﬁ" would come back as "fi", so it must go out as JSON
    assert not is_pythonic_renderable(F("\ufb01nd", {}))
    assert parse_calls(render_calls([F("\ufb01nd", {})], style="auto")) == [F("\ufb01nd", {})]
    c = [F("météo.prévision", {"ville": "Zürich 東京 😀"})]
    assert parse_calls(render_calls(c)) == c


# ---------------------------------------------------------------- hypothesis round trip


def same(a, b) -> bool:
    """Equality that also tells True from 1 and 1 from 1.0 (Python's == does not)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b


any_text = st.text(st.characters(blacklist_categories=()), max_size=12)  # includes lone surrogates
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
idents = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s)
)
names = st.lists(idents, min_size=1, max_size=3).map(".".join)
pythonic_calls = st.builds(ToolCall, names, st.dictionaries(idents, values, max_size=4))
json_calls = st.builds(
    ToolCall,
    st.text(min_size=1, max_size=10).filter(lambda s: s.strip() == s and s),
    st.dictionaries(any_text, values, max_size=4),
)


def examples(n: int):
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@examples(200)
@given(st.lists(pythonic_calls, max_size=4))
def test_round_trip_pythonic(calls):
    text = render_calls(calls)
    back = parse_calls(text)
    assert len(back) == len(calls)
    assert all(b.name == c.name and same(b.arguments, c.arguments) for b, c in zip(back, calls, strict=True))
    assert canonical_calls(back) == canonical_calls(calls)


@examples(100)
@given(st.lists(json_calls, max_size=3))
def test_round_trip_json(calls):
    back = parse_calls(render_calls(calls, style="json"))
    assert all(b.name == c.name and same(b.arguments, c.arguments) for b, c in zip(back, calls, strict=True))
    assert len(back) == len(calls)


@examples(50)
@given(
    st.lists(pythonic_calls, max_size=3),
    st.sampled_from(["Sure:\n{}\nDone.", "```python\n{}\n```", "<tool_call>{}</tool_call>"]),
)
def test_round_trip_wrapped(calls, wrapper):
    back = parse_calls(wrapper.format(render_calls(calls)))
    assert canonical_calls(back) == canonical_calls(calls)


@pytest.mark.parametrize(
    ("wrapper", "args"),
    [  # hypothesis found these: a call-tag inside a string argument split the block
        ("<tool_call>{}</tool_call>", {"A": [{"<TOOL_CALL>": None}]}),
        ("Sure:\n{}\nDone.", {"A": {"<TOOLCALL>": 1}}),
        ("Sure:\n{}\nDone.", {"q": "say </tool_call> and <functioncall> here"}),
    ],
)
def test_tag_inside_a_string_argument_is_data(wrapper, args):
    calls = [F("A", args)]
    back = parse_calls(wrapper.format(render_calls(calls)))
    assert canonical_calls(back) == canonical_calls(calls)


def test_real_tags_still_delimit_the_calls():
    text = "Thinking about g(x=1) first.\n<tool_call>[f(a=1)]</tool_call>"
    assert [c.name for c in parse_calls(text)] == ["f"]


# ---------------------------------------------------------------- canonical form


def test_canonical_argument_order_and_numbers():
    a = F("f", {"x": 1, "y": {"b": 2, "a": [1.0, 2]}})
    b = F("f", {"y": {"a": [1, 2.0], "b": 2.0}, "x": 1.0})
    assert canonical_call(a) == canonical_call(b)
    assert canonical_call(F("f", {"x": True})) != canonical_call(F("f", {"x": 1}))
    assert canonical_call(F("f", {"x": False})) != canonical_call(F("f", {"x": 0.0}))
    assert canonical_call(F("f", {"x": 1.5})) != canonical_call(F("f", {"x": 1}))
    assert canonical_call(F("f", {"x": "1"})) != canonical_call(F("f", {"x": 1}))
    assert canonical_call(F("f", {"x": [1, 2]})) != canonical_call(F("f", {"x": [2, 1]}))  # lists are ordered
    assert canonical_call(F("f", {"x": None})) != canonical_call(F("f", {}))
    assert canonical_call(F("f", {"x": 1})) != canonical_call(F("g", {"x": 1}))
    assert canonical_call(F("f", {"x": 10**6000})) != canonical_call(F("f", {"x": 10**6000 + 1}))


def test_canonical_calls_is_a_multiset():
    f, g = F("f", {"a": 1}), F("g", {"b": 2})
    assert canonical_calls([f, g]) == canonical_calls([g, f])
    assert canonical_calls([f, f]) != canonical_calls([f])
    assert canonical_calls([]) != canonical_calls([f])


@examples(80)
@given(st.lists(pythonic_calls, max_size=4), st.randoms(use_true_random=False))
def test_canonical_permutation_invariance(calls, rnd):
    shuffled = [F(c.name, dict(rnd.sample(list(c.arguments.items()), len(c.arguments)))) for c in calls]
    rnd.shuffle(shuffled)
    assert canonical_calls(shuffled) == canonical_calls(calls)


@examples(50)
@given(st.lists(pythonic_calls, min_size=1, max_size=3))
def test_canonical_separates_different_calls(calls):
    # changing one argument value changes the key (unless the new value equals the old one in canon)
    c0 = calls[0]
    changed = [F(c0.name, {**c0.arguments, "__extra_arg": 1}), *calls[1:]]
    assert canonical_calls(changed) != canonical_calls(calls)


# ---------------------------------------------------------------- BFCL form


def test_bfcl_form_round_trip():
    calls = [F("math.factorial", {"number": 5}), F("g", {"xs": [1, {"k": "v"}]})]
    bf = calls_to_bfcl(calls)
    assert bf == [{"math.factorial": {"number": 5}}, {"g": {"xs": [1, {"k": "v"}]}}]
    bf[1]["g"]["xs"].append(2)  # a copy: the calls are not changed through it
    assert calls[1].arguments["xs"] == [1, {"k": "v"}]
    assert calls_from_bfcl([{"f": {"t": (1, (2, 3))}}]) == [F("f", {"t": [1, [2, 3]]})]
    assert calls_from_bfcl(calls_to_bfcl(calls)) == calls
    for bad in [{"f": {}}, [{"f": {}, "g": {}}], [{"f": [1]}], [{1: {}}], ["f"]]:
        with pytest.raises(CallParseError) as ei:
            calls_from_bfcl(bad)
        assert ei.value.reason == "bad_bfcl"


# ---------------------------------------------------------------- never eval/exec


def test_package_source_has_no_eval_or_exec():
    for path in Path(calls_pkg.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in {"eval", "exec", "__import__"}, f"{path.name}:{node.lineno}"


@pytest.mark.parametrize("value", ["<think>", "</think>", "a </think> b"])
def test_reasoning_tag_inside_a_string_argument_is_data(value):
    calls = [ToolCall("A", {"A": value})]
    assert parse_calls("Sure:\n" + render_calls(calls) + "\nDone.") == calls
    # a real reasoning block is still dropped
    assert parse_calls('<think>maybe [f(a=1)]</think> [g(b="x")]') == [ToolCall("g", {"b": "x"})]
