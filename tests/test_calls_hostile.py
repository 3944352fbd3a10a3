"""A corpus of hostile and malformed model outputs, each with its expected outcome.

Outcomes: a list of calls, `[]` (no call), or `"!reason"` (CallParseError with that reason). While the
corpus runs, `eval`/`exec` are replaced by tripwires, so any attempt to run model output fails the test.
"""

from __future__ import annotations

import builtins
import sys

import pytest

from open_toolace.formats import MAX_CHARS, CallParseError, ToolCall, parse_calls, try_parse_calls
from open_toolace.formats.values import REASONS

F = ToolCall


def _nest(n: int) -> list:
    v: list = []
    for _ in range(n - 1):
        v = [v]
    return v


CORPUS: list[tuple[str, str, object]] = [
    # --- truncated / unbalanced
    ("truncated list", '[f(a=1, b="x"', "!syntax"),
    ("truncated call", "[get_weather(city='Paris'", "!syntax"),
    ("truncated json", '{"name": "f", "arguments": {"a": 1}', "!bad_json"),
    ("truncated json in tag", '<tool_call>\n{"name": "f", "arguments": {"a": ', "!bad_json"),
    ("truncated bare call", "f(", "!syntax"),
    ("bare call bad syntax", "get_weather(city Paris)", "!syntax"),
    ("prose starting like a call", "Note(s) are needed here.", []),
    ("truncated fence", "```python\n[f(a=1), g(b=", "!syntax"),
    ("unbalanced double quote", '[f(a="x)]', "!syntax"),
    ("unbalanced single quote", "[f(a='it's')]", "!syntax"),
    ("mismatched brackets", "[f(a=[1, 2)]", "!syntax"),
    ("extra closing", "[f(a=1))]", "!syntax"),
    ("missing comma", "[f(a=1 b=2)]", "!syntax"),
    ("json single quotes broken", "{'name': 'f', 'arguments': {'a': 1}", "!bad_json"),
    (
        "json trailing comma",
        '{"name": "f", "arguments": {"a": 1,}}',
        [F("f", {"a": 1})],
    ),  # Python literal reads it
    ("arguments string broken", '{"name": "f", "arguments": "{\\"a\\": "}', "!bad_arguments"),
    ("arguments not object", '{"name": "f", "arguments": [1, 2]}', "!bad_arguments"),
    ("name not a string", '{"name": 3, "arguments": {}}', "!bad_json"),
    ("empty name", '{"name": "", "arguments": {}}', "!bad_json"),
    ("empty tag", "<tool_call>\n</tool_call>", "!empty"),
    ("prose in tag", "<tool_call>I am not sure</tool_call>", "!not_a_call"),
    (
        "tool definition echoed",
        '{"name": "f", "description": "d", "parameters": {"type": "object"}}',
        "!not_a_call",
    ),
    # --- wrappers and prose
    ("fence json", '```json\n[{"name": "f", "arguments": {"q": "a b"}}]\n```', [F("f", {"q": "a b"})]),
    ("fence no lang", "```\nf(a=1)\n```", [F("f", {"a": 1})]),
    ("prose both sides", "Let me check.\n[f(a=1)]\nThe result will follow.", [F("f", {"a": 1})]),
    ("prose with apostrophes", "I'll call it: [f(a='it\\'s')] — that's all.", [F("f", {"a": "it's"})]),
    ("two lists in prose", "First [f(a=1)] then [g(b=2)].", [F("f", {"a": 1}), F("g", {"b": 2})]),
    ("broken and good in prose", "Try [f(a=x)] or [g(b=2)]", "!non_literal"),
    ("prose brackets only", "See [1] and [2, 3] for details {not json}.", []),
    ("prose json non call", 'The config is {"a": 1}, fine.', []),
    # code samples in an answer (seen in glaive's assistant turns) are not calls
    (
        "code assignment",
        "Connect with:\n```python\nconn = mysql.connector.connect(host='h', user='u')\n```",
        [],
    ),
    ("code operator", "Then:\nago = datetime.now() - timedelta(days=30)\nprint(ago)", []),
    ("js arrow", "Use it like products.foreach(p => println(p)) in Scala.", []),
    ("js index", "const noun = nouns[Math.floor(Math.random() * nouns.length)];", []),
    ("comprehension in prose", 'Use [int(n) + 3 for n in s.split(", ")] to add three.', []),
    ("data json with name", 'Example:\n{"@id": "1", "name": "Sample", "type": "Text"}', []),
    (
        "truncated data json",
        '{\n "root": {\n "item": {\n "name": "Sample data",\n "value": "123"\n }\n }',
        [],
    ),
    ("mistral prefix", '[TOOL_CALLS][{"name": "f", "arguments": {"a": 1}}]', [F("f", {"a": 1})]),
    ("markdown link", "[Python](https://python.org) is a language.", []),
    ("subscript expression", "[Note][1]", []),
    ("whole list non call", "[1, 2, 3]", "!not_a_call"),
    ("whole json non call", '{"city": "Paris"}', "!not_a_call"),
    ("list of strings", '["f(a=1)"]', "!not_a_call"),
    ("python tag", '<|python_tag|>{"name": "f", "parameters": {}}<|eot_id|>', [F("f", {})]),
    ("think then call", "<think>I could use [h(a=1)] but no.</think>[g(b=2)]", [F("g", {"b": 2})]),
    ("think unclosed", "<think>I will call [h(a=1)] once I", []),
    ("think close only", "so [h(a=1)]?</think>\n[g(b=2)]", [F("g", {"b": 2})]),
    ("json args alias", '{"name": "f", "args": {"a": 1}}', [F("f", {"a": 1})]),
    ("json arguments at top level", '{"name": "f", "city": "Paris"}', "!bad_json"),
    ("json two argument keys", '{"name": "f", "arguments": {}, "parameters": {"a": 1}}', "!bad_json"),
    ("think then prose", "<think>[h(a=1)]</think>No tool is needed.", []),
    # --- unicode
    (
        "unicode values",
        '[f(city="Zürich", note="東京 😀", rtl="مرحبا")]',
        [F("f", {"city": "Zürich", "note": "東京 😀", "rtl": "مرحبا"})],
    ),
    ("unicode names", "[météo.prévision(ville='Lyon')]", [F("météo.prévision", {"ville": "Lyon"})]),
    ("unicode escapes", '[f(a="\\u00e9\\n\\t")]', [F("f", {"a": "é\n\t"})]),
    # look-alike characters make text that is not call-shaped: read as prose, like any other text
    ("zero width space in name", "[f\u200b(a=1)]", []),
    ("null byte", '[f(a="\x00")]', "!syntax"),
    ("lone surrogate", '[f(a="\ud800")]', "!syntax"),
    ("fullwidth parens", "[f\uff08a=1\uff09]", []),
    # --- numbers
    ("long int ok", "[f(a=" + "9" * 4000 + ")]", [F("f", {"a": int("9" * 4000)})]),
    ("too long int", "[f(a=" + "9" * 5000 + ")]", "!too_large"),
    ("too long int json", '{"name": "f", "arguments": {"a": ' + "9" * 5000 + "}}", "!too_large"),
    ("huge float", "[f(a=1e400, b=-1e400)]", [F("f", {"a": float("inf"), "b": float("-inf")})]),
    ("tiny float", "[f(a=1e-400)]", [F("f", {"a": 0.0})]),
    ("hex and underscores", "[f(a=0x1F, b=1_000)]", [F("f", {"a": 31, "b": 1000})]),
    ("json NaN", '{"name": "f", "arguments": {"a": NaN}}', "!non_literal"),
    ("double minus", "[f(a=--1)]", "!non_literal"),
    ("negative bool", "[f(a=-True)]", "!non_literal"),
    ("complex", "[f(a=1j)]", "!non_literal"),
    # --- nesting
    ("deep but fine", "[f(a=" + "[" * 50 + "]" * 50 + ")]", [F("f", {"a": _nest(50)})]),
    ("too deep for us", "[f(a=" + "[" * 150 + "]" * 150 + ")]", "!too_deep"),
    ("too deep for parser", "[f(a=" + "[" * 5000 + "]" * 5000 + ")]", "!too_deep"),
    ("deep json", '{"name": "f", "arguments": ' + '{"a": ' * 3000 + "1" + "}" * 3001, "!too_deep"),
    ("deep tool_calls", '{"tool_calls": [' * 450 + '{"name": "f"}' + "]}" * 450, "!too_deep"),
    ("deeper tool_calls", '{"tool_calls": [' * 2000 + '{"name": "f"}' + "]}" * 2000, "!too_deep"),
    ("deep unary", "[f(a=" + "-" * 20000 + "1)]", "!too_deep"),
    ("long dotted name", "[" + "a." * 20000 + "b(c=1)]", "!too_deep"),
    # --- non-literal expressions
    ("import system", "[__import__('os').system('touch /tmp/pwned')]", "!non_literal"),
    ("import in arg", "[f(a=__import__('os').system('x'))]", "!non_literal"),
    ("bare import", "__import__('os').system('x')", "!non_literal"),
    ("setattr sys", "[f(a=setattr(__import__('sys'), 'PWNED', 1))]", "!non_literal"),
    ("name", "[f(a=x)]", "!non_literal"),
    ("attribute", "[f(a=os.environ)]", "!non_literal"),
    ("call in arg", "[f(a=g(b=1))]", "!non_literal"),
    ("lambda", "[f(a=lambda: 0)]", "!non_literal"),
    ("f-string", '[f(a=f"{x}")]', "!non_literal"),
    ("list comprehension", "[f(a=[i for i in range(3)])]", "!non_literal"),
    ("generator", "[f(a=(i for i in range(3)))]", "!non_literal"),
    ("binary op", "[f(a=1+1)]", "!non_literal"),
    ("string concat", "[f(a='x' * 10**9)]", "!non_literal"),
    ("subscript", "[f(a=[1][0])]", "!non_literal"),
    ("walrus", "[f(a=(b := 1))]", "!non_literal"),
    ("ternary", "[f(a=1 if x else 2)]", "!non_literal"),
    ("set", "[f(a={1, 2})]", "!non_literal"),
    ("bytes", "[f(a=b'x')]", "!non_literal"),
    ("ellipsis", "[f(a=...)]", "!non_literal"),
    ("star args", "[f(*args)]", "!positional_args"),
    ("kwargs unpack", "[f(**{'a': 1})]", "!non_literal"),
    ("dict unpack", "[f(a={**b})]", "!non_literal"),
    ("positional", "[f(1, b=2)]", "!positional_args"),
    ("called subscript", "[fs[0](a=1)]", "!non_literal"),
    ("called call", "[f()(a=1)]", "!non_literal"),
    ("not a call in list", "[f(a=1), 2]", "!not_a_call"),
    ("statement", "import os; os.system('x')", []),
    # calls separated by ";" (Llama style); a name such as os.system is only data here
    (
        "statement call-shaped",
        "os.system(command='x'); f(a=1)",
        [F("os.system", {"command": "x"}), F("f", {"a": 1})],
    ),
    ("repeated kwarg", "[f(a=1, a=2)]", "!bad_arguments"),
    ("repeated dict key", "[f(a={'k': 1, 'k': 2})]", "!bad_arguments"),
    ("repeated json key", '{"name": "f", "arguments": {"a": 1, "a": 2}}', "!bad_arguments"),
    ("int dict key", "[f(a={1: 'x'})]", "!bad_arguments"),
]


@pytest.fixture
def no_eval(monkeypatch):
    def tripwire(*a, **k):
        raise AssertionError("model output reached eval/exec")

    monkeypatch.setattr(builtins, "eval", tripwire)
    monkeypatch.setattr(builtins, "exec", tripwire)


@pytest.mark.usefixtures("no_eval")
@pytest.mark.parametrize("name, text, expected", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus(name, text, expected):
    if isinstance(expected, str):
        reason = expected[1:]
        assert reason in REASONS
        with pytest.raises(CallParseError) as ei:
            parse_calls(text)
        assert ei.value.reason == reason, ei.value.message
        assert try_parse_calls(text) == (None, reason)
    else:
        assert parse_calls(text) == expected


def test_nothing_ran():
    assert not hasattr(sys, "PWNED")
    for _, text, _ in CORPUS:
        try_parse_calls(text)
    assert not hasattr(sys, "PWNED")


@pytest.mark.parametrize(
    "text",
    [
        '{"' * 49_000,
        "[" * 99_000,
        "a(" * 49_000,
        '"' * 99_000,
        "f(a=" * 24_000,
        "```" * 33_000,
        "<tool_call>" * 9_000,
        '"\\' * 49_000,
        "f(a=1, " * 14_000,
        '{"name": ' * 11_000,
    ],
    ids=lambda t: repr(t[:12]),
)
def test_adversarial_inputs_end_with_an_answer(text):
    calls, reason = try_parse_calls(text)  # must neither crash nor hang
    assert (calls is None) != (reason is None)


def test_many_calls_in_one_output():
    text = "[" + ", ".join(f"f(i={i})" for i in range(5000)) + "]"
    assert [c.arguments["i"] for c in parse_calls(text)] == list(range(5000))


def test_length_cap():
    assert try_parse_calls("x" * (MAX_CHARS + 1)) == (None, "too_long")
    assert try_parse_calls(None) == (None, "not_text")  # type: ignore[arg-type]
