"""Small tools and examples the task-builder and mixture tests share."""

from __future__ import annotations

import re

from open_toolace.data.records import make_example


def tool(name: str, *params: str, desc: str | None = None) -> dict:
    props = {p: {"type": "string", "description": f"the {p}"} for p in params}
    return {
        "name": name,
        "description": desc if desc is not None else f"does {name}",
        "parameters": {"type": "object", "properties": props, "required": list(params)},
    }


POOL = [tool(f"pool_tool_{i}", "x") for i in range(20)]


def examples() -> list[dict]:
    return [
        make_example(
            "a",
            [{"role": "user", "content": "weather in Paris"}],
            [tool("get_weather", "city"), tool("get_time", "zone")],
            [{"name": "get_weather", "arguments": {"city": "Paris"}}],
            source="t",
        ),
        make_example(
            "b",
            [{"role": "user", "content": "time in Tokyo and Paris"}],
            [tool("get_time", "zone")],
            [
                {"name": "get_time", "arguments": {"zone": "Tokyo"}},
                {"name": "get_time", "arguments": {"zone": "Paris"}},
            ],
            source="t",
        ),
        make_example(
            "c",
            [{"role": "user", "content": "convert 3 usd"}],
            [tool("convert", "amount")],
            [{"name": "convert", "arguments": {"amount": "3"}}],
            source="t",
        ),
        make_example(
            "d",
            [{"role": "user", "content": "search cats"}],
            [tool("search", "q")],
            [{"name": "search", "arguments": {"q": "cats"}}],
            source="t",
        ),
        make_example(
            "e", [{"role": "user", "content": "tell me a joke"}], [tool("search", "q")], [], source="t"
        ),
        make_example("f", [{"role": "user", "content": "unlabeled"}], [], None, source="t"),
    ]


def prompt_tool_names(sample: dict) -> list[str]:
    system = sample["prompt"][0]["content"]  # JSON tools (bfcl) or Python signatures (lean)
    return re.findall(r'\{"name": "([^"]+)"', system) or re.findall(r"^def ([\w.]+)\(", system, re.M)
