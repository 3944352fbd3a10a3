"""The API a user scripts against: every name in `open_toolace.__all__` resolves, lazily."""

from __future__ import annotations

import subprocess
import sys

import open_toolace


def test_every_public_name_resolves_to_its_definition():
    for name in open_toolace.__all__:
        obj = getattr(open_toolace, name)
        assert getattr(obj, "__name__", name) == name, name  # the thing itself, not a module of that name
    assert set(open_toolace.__all__) <= set(dir(open_toolace))


def test_import_is_cheap_and_a_typo_is_an_attribute_error():
    code = "import sys, open_toolace; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    try:
        open_toolace.parse_call  # noqa: B018
    except AttributeError as e:
        assert "parse_call" in str(e)
    else:
        raise AssertionError("a missing name must raise AttributeError")


def test_quickstart_from_the_top_level():
    from open_toolace import check_calls, parse_calls, parse_tool, render_calls

    tool = parse_tool({"name": "get_weather", "description": "Weather.", "parameters": {"type": "dict",
                       "properties": {"city": {"type": "string"}}, "required": ["city"]}})  # fmt: skip
    calls = parse_calls('Sure: [get_weather(city="Paris")]')
    assert render_calls(calls) == '[get_weather(city="Paris")]'
    assert check_calls(calls, [tool]) == []
    assert [r.code for r in check_calls(parse_calls("[get_weather()]"), [tool])] == ["missing_required"]
