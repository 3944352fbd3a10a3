"""Test data and builders that several test files share (imported as `from helpers import ...`, as
`faults`): one definition each, so the tests that read the same tools or the same tiny training run
cannot drift apart. Plain values and functions, no pytest fixtures (those stay in each test file)."""

from __future__ import annotations

from typing import Any

from open_toolace.evaluate.bfcl import reference_calls
from open_toolace.formats import ToolCall, render_calls
from open_toolace.training.config import TrainConfig

# Two tool docs as a model writes them (JSON schema `object` parameters): the evolve tests' tools.
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Unit"},
        },
        "required": ["city"],
    },
}
CONVERT = {
    "name": "convert_currency",
    "description": "Convert an amount between currencies.",
    "parameters": {
        "type": "object",
        "properties": {
            "amount": {"type": "number", "description": "Amount"},
            "to": {"type": "string", "description": "Target currency"},
        },
        "required": ["amount", "to"],
    },
}


def tiny_train(**kw: Any) -> TrainConfig:
    """A LoRA run on tiny-random that takes seconds on a CPU (4 steps, checkpoint every 2); `kw` overrides."""
    base: dict[str, Any] = dict(
        model="tiny-random",
        max_steps=4,
        per_device_train_batch_size=2,
        effective_batch_size=2,
        learning_rate=5e-3,
        warmup_ratio=0.0,
        save_steps=2,
        logging_steps=1,
        max_length=256,
        lora_dropout=0.0,
    )
    base.update(kw)
    return TrainConfig(**base)


def scripted_answer(item: dict, code: str) -> str:
    """A scripted answer to a BFCL item: `R` the right one (`[]` on irrelevance, else the reference calls);
    `W`, `a`, `b`, `c` four different wrong ones, each calling the offered function with values of the
    right types, so it passes the rule check (and takes part in a vote) yet is judged wrong."""
    name = item["function"][0]["name"]
    if code == "R":
        if item["category"] == "irrelevance":
            return "[]"
        return render_calls([ToolCall(c["name"], c["arguments"]) for c in reference_calls(item)])
    j = "Wabc".index(code)
    params = item["function"][0]["parameters"]
    fill = {"integer": 100 + j, "float": 100.5 + j, "number": 100.5 + j, "string": f"w{j}",
            "boolean": bool(j % 2), "array": [j], "dict": {"k": j}}  # fmt: skip
    args = {p: fill.get(params["properties"][p]["type"], f"w{j}") for p in params.get("required", [])}
    return render_calls([ToolCall(name, args)])
