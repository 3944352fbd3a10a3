"""The `python` tool-doc format: rendering, parsing with `ast` only, round trips over real docs, hostile text."""

from __future__ import annotations

import builtins
import importlib.resources
import json

import pytest

from open_toolace.data.adapters import load_examples
from open_toolace.data.tool_docs import load_tool_docs
from open_toolace.formats import python_doc as P
from open_toolace.formats.tools import Tool, parse_tool

WEATHER = Tool(
    "get_weather",
    "Current weather for a city.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city name."},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
            "days": {"type": "array", "items": {"type": "integer"}, "description": "Days ahead."},
        },
        "required": ["city"],
    },
)


def test_render_reads_like_python():
    assert P.render_tool(WEATHER) == (
        'def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius", '
        "days: list[int] | None = None):\n"
        '    """Current weather for a city.\n'
        "\n"
        "    Args:\n"
        "        city: The city name.\n"
        "        unit:\n"
        "        days: Days ahead.\n"
        '    """'
    )
    assert P.comparable(P.parse_tool(P.render_tool(WEATHER))) == P.comparable(WEATHER)


def test_nested_objects_dotted_names_and_types_round_trip():
    tool = Tool(
        "geo.route-plan",
        "Plan a route.",
        {
            "type": "object",
            "properties": {
                "stops": {
                    "type": "array",
                    "description": "The stops.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "city": {"type": "string", "description": "City."},
                            "nights": {"type": "integer", "default": 1},
                        },
                        "required": ["city"],
                    },
                },
                "options": {
                    "type": "object",
                    "description": "Options.",
                    "properties": {"avoid": {"type": "array", "items": {"type": "string"}}},
                },
                "speed": {"type": "number"},
                "point": {"type": "array", "x-original-type": "tuple"},
                "extra": {"description": "anything"},
                "fast": {"type": "boolean", "default": False},
            },
            "required": ["stops", "speed"],
        },
    )
    text = P.render_tool(tool)
    assert text.startswith("def geo.route-plan(stops: list[dict], speed: float, options: dict | None = None,")
    back = P.parse_tool(text)
    assert back.name == "geo.route-plan"
    assert P.comparable(back) == P.comparable(tool)


def _bfcl_tools() -> list[Tool]:
    data = importlib.resources.files("bfcl_eval") / "data"
    tools = []
    for f in sorted(data.iterdir()):
        if not (f.name.startswith("BFCL_v4_") and f.name.endswith(".json")) or "multi_turn" in f.name:
            continue
        for line in f.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            for fn in rec.get("function", []) if isinstance(rec, dict) else []:
                try:
                    tools.append(parse_tool(fn))
                except ValueError:
                    continue
    return tools


def round_trip_failures(tools: list[Tool]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in tools:
        got, rejected = P.parse_tools(P.render_tool(t))
        if rejected or len(got) != 1:
            key = (
                "keyword_name"
                if any(k in ("from", "class", "import", "in", "is") for k in t.properties)
                else "other"
            )
        elif P.comparable(got[0]) != P.comparable(t):
            key = "diff"
        else:
            continue
        out[key] = out.get(key, 0) + 1
    return out


def test_round_trip_over_every_bfcl_function_doc():
    tools = _bfcl_tools()
    assert len(tools) > 8000
    # docs/tools.md: 2 Java docs name a parameter `from` (not a Python name), 1 doc lists `required`
    # without `properties` for a nested object; everything else comes back equal (up to `comparable`)
    assert round_trip_failures(tools) == {"keyword_name": 2, "diff": 1}


def test_round_trip_over_shared_data_tools(shared_data):
    tools = load_tool_docs(shared_data / "sealtools_tools.jsonl")
    for name in ("glaive_toolcall_en_demo.json", "toolace_sample_sharegpt.json", "apibank_lv3_train.json"):
        tools += [parse_tool(t) for ex in load_examples(shared_data / name) for t in ex["tools"]]
    assert len(tools) > 1000
    fails = round_trip_failures(tools)
    assert sum(fails.values()) <= len(tools) // 100, fails


HOSTILE = [
    ("decorator", "@app.route('/x')\ndef f(a: int):\n    pass", "decorator"),
    ("call default", "def f(a: int = os.system('rm -rf /')):\n    pass", "non_literal_default"),
    ("name default", "def f(a: int = x):\n    pass", "non_literal_default"),
    ("comprehension default", "def f(a: list = [i for i in range(9)]):\n    pass", "non_literal_default"),
    ("lambda default", "def f(a = lambda: 1):\n    pass", "non_literal_default"),
    ("f-string default", 'def f(a: str = f"{x}"):\n    pass', "non_literal_default"),
    ("import line", "import os\ndef f(a: int):\n    pass", "not_a_def"),
    ("nested def", "def f(a: int):\n    def g():\n        pass", "bad_body"),
    ("code body", "def f(a: int):\n    return __import__('os').system('x')", "bad_body"),
    ("unbalanced quotes", 'def f(a: str = "oops):\n    pass', "syntax"),
    ("cut off", "def f(a: int, b: Lit", "syntax"),
    ("call annotation", "def f(a: __import__('os').path):\n    pass", "bad_annotation"),
    ("unknown type", "def f(a: Socket):\n    pass", "bad_annotation"),
    ("star args", "def f(*args):\n    pass", "bad_signature"),
    ("class", "class A:\n    def f(self, a: int):\n        pass", "not_a_def"),
    ("no code", "I cannot help with that.", "no_def"),
    ("huge literal", "def f(a: int = " + "9" * 200_000 + "):\n    pass", "too_long"),
    ("deep literal", "def f(a: list = " + "[" * 500 + "]" * 500 + "):\n    pass", "syntax"),
]


@pytest.fixture()
def no_eval(monkeypatch):
    def tripwire(*a, **k):
        raise AssertionError("eval/exec called on model output")

    monkeypatch.setattr(builtins, "eval", tripwire)
    monkeypatch.setattr(builtins, "exec", tripwire)
    monkeypatch.setattr(builtins, "__import__", _only_known_imports(builtins.__import__))


def _only_known_imports(real):
    def guarded(name, *a, **k):
        if name in ("os", "subprocess", "socket", "shutil"):
            raise AssertionError(f"model output imported {name}")
        return real(name, *a, **k)

    return guarded


@pytest.mark.parametrize(("label", "text", "reason"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_signatures_are_data(no_eval, label, text, reason):
    tools, rejected = P.parse_tools(text)
    assert [r["reason"] for r in rejected][:1] == [reason], (label, rejected)
    assert all(r["reason"] in P.REASONS for r in rejected)
    # an import beside a good definition is rejected on its own; the definition is still read (as data)
    assert [t.name for t in tools] == (["f"] if label == "import line" else [])
    with pytest.raises(P.PythonDocError):
        P.parse_tool(text)


def test_prose_around_code_and_one_bad_tool_among_good_ones(no_eval):
    text = (
        "Sure! Here are the tools:\n```python\n"
        + P.render_tool(WEATHER)
        + "\n\n@decorated\ndef bad(a: int):\n    pass\n\ndef ok(q: str):\n    '''Search.'''\n```\nHope this helps!"
    )
    tools, rejected = P.parse_tools(text)
    assert [t.name for t in tools] == ["get_weather", "ok"] and [r["reason"] for r in rejected] == [
        "decorator"
    ]
    unfenced = "Here you go:\n" + P.render_tool(WEATHER) + "\nThat is all."
    assert [t.name for t in P.parse_tools(unfenced)[0]] == ["get_weather"]
