"""open-toolace: an open, runnable implementation of the ToolACE family of tool-learning methods.

The API a script uses is importable from here (docs/architecture.md maps where each name lives):

    from open_toolace import Tool, ToolCall, parse_calls, render_calls, check_calls, parse_tool
    calls = parse_calls('[get_weather(city="Paris")]')      # model output is data: ast/json, never eval
    check_calls(calls, [parse_tool(doc)])                    # [] or typed Reasons

Names are imported on first use, so `import open_toolace` stays cheap (no torch until a model is needed).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> the module that defines it
_API = {
    # formats: tools, calls and their text forms
    "Tool": "open_toolace.formats.tools",
    "ToolFormatError": "open_toolace.formats.tools",
    "parse_tool": "open_toolace.formats.tools",
    "parse_tools": "open_toolace.formats.tools",
    "tool_to_openai": "open_toolace.formats.tools",
    "tool_to_bfcl": "open_toolace.formats.tools",
    "ToolCall": "open_toolace.formats.calls",
    "CallParseError": "open_toolace.formats.values",
    "parse_calls": "open_toolace.formats.parse",
    "try_parse_calls": "open_toolace.formats.parse",
    "render_calls": "open_toolace.formats.render",
    "canonical_calls": "open_toolace.formats.render",
    # the rule layer
    "Reason": "open_toolace.checks",
    "check_calls": "open_toolace.checks",
    "check_tools": "open_toolace.checks",
    "validate_tool": "open_toolace.checks",
    "reason_counts": "open_toolace.checks",
    # data, prompts, models and generation
    "load_examples": "open_toolace.data",
    "write_examples": "open_toolace.data",
    "load_tool_docs": "open_toolace.data.tool_docs",
    "render_invocation": "open_toolace.prompts",
    "load_prompts": "open_toolace.prompts",
    "load_model": "open_toolace.models",
    "Generator": "open_toolace.generation",
    "Sampling": "open_toolace.generation",
    "make_generator": "open_toolace.generation",
    "FakeGenerator": "open_toolace.generation.fake",
    # training, evaluation, synthesis, the whole run
    "TaskMixConfig": "open_toolace.training.mixture",
    "build_mixture": "open_toolace.training.mixture",
    "TrainConfig": "open_toolace.training",
    "train": "open_toolace.training",
    "evaluate_bfcl": "open_toolace.evaluate",
    "evaluate_dataset": "open_toolace.evaluate",
    "score_bfcl": "open_toolace.evaluate",
    "SynthConfig": "open_toolace.synth.seed",
    "synthesize": "open_toolace.synth.seed",
    "RunConfig": "open_toolace.pipeline.config",
    "run": "open_toolace.pipeline.run",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'open_toolace' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
