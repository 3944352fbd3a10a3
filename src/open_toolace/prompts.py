"""Every prompt template of the method, as data, and the functions that render them into chat messages.

Templates live in `PROMPTS[task][part]`; placeholders are `{name}` and only the known names are filled in
(so templates may contain literal JSON braces). Override them from a dict or a YAML file:

    from open_toolace.prompts import load_prompts, render_invocation
    prompts = load_prompts("my_prompts.yaml")      # {"invocation": {"system": "..."}} merged over PROMPTS
    messages = render_invocation(tools, [{"role": "user", "content": "weather in Paris?"}], prompts=prompts)
    text = apply_chat_template(tokenizer, messages)

Two sets (`PROMPT_SETS`). `lean`, the default a model is trained in (`TaskMixConfig.prompt_set`) and served
with when it has no saved format: tools as Python signatures with docstrings under a one-line instruction
(1.5-2.3x fewer prompt tokens; better at the same training tokens, docs/bootstrap_levers.md). `bfcl`, for
models tuned on BFCL's prompt: BFCL's default prompting style (bfcl_eval.constants.default_prompts,
"classic" persona, python return format, JSON function docs, plaintext), shortened (no multi-turn paragraph,
one tool per line); the instructions are the same. A bare `prompts=None` in the render functions is `bfcl`,
the base that `load_prompts` overrides merge onto.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from open_toolace.formats import python_doc
from open_toolace.formats.render import render_calls
from open_toolace.formats.tools import as_tool, tool_record

Message = dict[str, str]

PROMPTS: dict[str, dict[str, str]] = {
    # Tool invocation (ToolACE / BFCL prompting style). `{functions}`: the JSON tool list.
    "invocation": {
        "system": (
            "You are an expert in composing functions. You are given a question and a set of possible "
            "functions. Based on the question, you will need to make one or more function/tool calls to "
            "achieve the purpose. If none of the functions can be used, or the question lacks the parameters "
            "required by the function, answer [] and point it out.\n"
            "If you decide to invoke any of the function(s), you MUST put it in the format of "
            "[func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]\n"
            "You SHOULD NOT include any other text in the response.\n"
            "Here is a list of functions in JSON format that you can invoke.\n{functions}\n"
        ),
    },
    # Query-aware tool generation (ToolACE-DEV): query -> m candidate tools that could serve it.
    "tool_generation": {
        "system": (
            "You are an expert API designer. Given a user query, write exactly {m} API definition(s) "
            "that a tool-using assistant could call to serve the request: general tools that take the "
            "query's values as parameters, not in their names. Each is a JSON object with "
            '"name", "description" and "parameters" (a JSON Schema object with "type": "object", '
            '"properties" and "required"). Answer with a JSON list only.'
        ),
        "user": "Query: {query}",
    },
    # Tool-documentation adaption (ToolACE-DEV): free-text documentation -> a full JSON definition.
    "adaption": {
        "system": (
            "You are an expert API designer. Turn the API documentation you are given into one JSON object "
            'with "name", "description" and "parameters" (a JSON Schema object with "type": '
            '"object", "properties" with a type and description for each parameter, and "required"). '
            "Answer with the JSON object only."
        ),
        "user": "{name_line}Documentation: {description}",
        "name_line": "API name: {name_hint}\n",
    },
    # Refinement (ToolACE-R): the previous answer is shown; the model outputs the corrected call list,
    # or repeats it unchanged when it is already right.
    "refinement": {
        "system": (
            "You are an expert in composing functions. You are given a conversation, a set of possible "
            "functions and a previous answer to the last user turn. Check the previous answer: the right "
            "functions, every required parameter, values taken from the conversation with the right types. "
            "If it is already right, repeat it unchanged. Otherwise write the corrected answer. Answer in the "
            "format [func_name1(params_name1=params_value1, ...), func_name2(params)], or [] if no function "
            "fits. You SHOULD NOT include any other text in the response.\n"
            "Here is a list of functions in JSON format that you can invoke.\n{functions}\n"
        ),
        # appended to the last user turn (some chat templates refuse two user turns in a row)
        "user": "{last}\n\nPrevious answer: {previous}\nRefined answer:",
    },
}


# The lean set: tools as Python signatures (formats/python_doc/) under a ~25-token instruction. It holds no
# placeholder a small model could copy into its answer; its one example is a call no tool list contains.
LEAN_PROMPTS: dict[str, dict[str, str]] = {
    "format": {"tools": "python"},
    "invocation": {
        "system": (
            "You can call these Python functions:\n\n{functions}\n\n"
            'Answer with a list of calls, like [lookup_order(order_id="A1", verbose=True)], or [] if none fits.'
        ),
    },
    "tool_generation": {
        "system": (
            "Write exactly {m} Python function stub(s), a signature with type hints and a docstring with "
            "Args, for APIs that would serve the request. Answer with the code only."
        ),
        "user": "{query}",
    },
    "adaption": {
        "system": (
            "Write this API as one Python function stub: a signature with type hints and defaults, and a "
            "docstring with its description and Args. Answer with the code only."
        ),
        "user": "{name_line}{description}",
        "name_line": "Name: {name_hint}\n",
    },
    "refinement": {
        "system": (
            "You can call these Python functions:\n\n{functions}\n\n"
            "Check the previous answer to the last request. Answer with the right list of calls (the same "
            "one if it is right), or [] if none fits."
        ),
        "user": "{last}\n\nPrevious answer: {previous}",
    },
}
PROMPTS["format"] = {"tools": "json"}
PROMPT_SETS = {"bfcl": PROMPTS, "lean": LEAN_PROMPTS}
TOOL_FORMATS = ("json", "python")


def get_prompts(prompts: Mapping | str | None = None) -> Mapping:
    """A prompt set by name (`bfcl`, `lean`), or the mapping given; None is the BFCL-style set."""
    if prompts is None:
        return PROMPTS
    if isinstance(prompts, str):
        if prompts not in PROMPT_SETS:
            raise ValueError(f"unknown prompt set {prompts!r}; use one of {', '.join(PROMPT_SETS)}")
        return PROMPT_SETS[prompts]
    return prompts


def tool_format(prompts: Mapping | str | None = None) -> str:
    """The tool-doc format a prompt set shows and asks for: `json` or `python`."""
    fmt = get_prompts(prompts).get("format", {}).get("tools", "json")
    if fmt not in TOOL_FORMATS:
        raise ValueError(f"unknown tool format {fmt!r}; use one of {', '.join(TOOL_FORMATS)}")
    return fmt


PROMPT_FORMAT_FILE = "prompt_format.json"


def save_prompt_format(model_dir: str | Path, prompt_set: str) -> Path:
    """Record beside an adapter / merged checkpoint the prompt set (and tool-doc format) it was trained on."""
    from open_toolace.io import atomic_write_json

    info = {"prompt_set": prompt_set, "tool_format": tool_format(prompt_set)}
    return atomic_write_json(Path(model_dir) / PROMPT_FORMAT_FILE, info)


def saved_prompt_set(model_dir: str | Path | None) -> str | None:
    """The prompt set saved with a trained model dir, or None (no dir, or trained before it was saved)."""
    if not model_dir or not (Path(model_dir) / PROMPT_FORMAT_FILE).exists():
        return None
    return json.loads((Path(model_dir) / PROMPT_FORMAT_FILE).read_text(encoding="utf-8")).get("prompt_set")


def resolve_prompt_set(asked: str | None, model_dir: str | Path | None) -> str:
    """What a trained model is served with: its saved set unless one is asked for (then a warning when the
    two differ: a train/serve mismatch); for a model with none saved, `lean`, the set this project trains
    in (ask for `bfcl` for a model tuned on BFCL's own prompt)."""
    saved = saved_prompt_set(model_dir)
    if asked and saved and asked != saved:
        import warnings

        warnings.warn(
            f"{model_dir} was trained with prompt set {saved!r}; serving it with {asked!r} as asked",
            stacklevel=2,
        )
    return asked or saved or "lean"


def load_prompts(
    overrides: Mapping[str, Mapping[str, str]] | str | Path | None = None,
    base: str = "bfcl",
) -> dict[str, dict[str, str]]:
    """The prompt set `base` with `overrides` (a dict or a YAML/JSON file path) merged over it, part by part."""
    merged = copy.deepcopy(dict(get_prompts(base)))
    if overrides is None:
        return merged
    if isinstance(overrides, (str, Path)):
        import yaml

        overrides = yaml.safe_load(Path(overrides).read_text(encoding="utf-8")) or {}
    if not isinstance(overrides, Mapping):
        raise ValueError(
            f"prompt overrides must be a mapping task -> {{part: template}}, got {type(overrides).__name__}"
        )
    for task, parts in overrides.items():
        if not isinstance(parts, Mapping):
            raise ValueError(f"prompt overrides[{task!r}] must be a mapping part -> template")
        merged.setdefault(task, {}).update({k: str(v) for k, v in parts.items()})
    return merged


def fill(template: str, **values: Any) -> str:
    """Replace `{name}` for the given names only; other braces (JSON examples) are left alone."""
    if not values:
        return template
    pattern = re.compile("{(" + "|".join(re.escape(k) for k in values) + ")}")
    return pattern.sub(lambda m: str(values[m.group(1)]), template)


def format_tools(tools: list[Any], fmt: str = "json") -> str:
    """Tools as a prompt shows them and a tool-generation target writes them: `json` (a JSON list with one
    compact tool per line: valid JSON, readable, ~half the tokens of indent=4) or `python` (signatures)."""
    if fmt == "python":
        return python_doc.render_tools([as_tool(t) for t in tools])
    return "[\n" + ",\n".join(json.dumps(tool_record(t), ensure_ascii=False) for t in tools) + "\n]"


def format_tool(tool: Any, fmt: str = "json") -> str:
    """One tool (a documentation-adaption target): a JSON object or one Python stub."""
    if fmt == "python":
        return python_doc.render_tool(as_tool(tool))
    return json.dumps(tool_record(tool), ensure_ascii=False)


def _with_system(system: str, messages: list[Message]) -> list[Message]:
    # As BFCL does: a conversation's own system prompt goes after ours, in the same (first) message.
    msgs = [dict(m) for m in messages]
    if msgs and msgs[0].get("role") == "system":
        msgs[0]["content"] = system + "\n\n" + msgs[0]["content"]
        return msgs
    return [{"role": "system", "content": system}, *msgs]


def render_invocation(
    tools: list[Any], messages: list[Message], prompts: Mapping | str | None = None
) -> list[Message]:
    """System prompt with the tools + the conversation (last turn: the user's), ready for a chat template."""
    p = get_prompts(prompts)
    return _with_system(
        fill(p["invocation"]["system"], functions=format_tools(tools, tool_format(p))), messages
    )


def render_tool_generation(query: str, m: int, prompts: Mapping | str | None = None) -> list[Message]:
    p = get_prompts(prompts)["tool_generation"]
    return [
        {"role": "system", "content": fill(p["system"], m=m, query=query)},
        {"role": "user", "content": fill(p["user"], m=m, query=query)},
    ]


def render_adaption(
    description: str, name_hint: str | None = None, prompts: Mapping | str | None = None
) -> list[Message]:
    p = get_prompts(prompts)["adaption"]
    name_line = fill(p.get("name_line", ""), name_hint=name_hint) if name_hint else ""
    return [
        {"role": "system", "content": p["system"]},
        {
            "role": "user",
            "content": fill(
                p["user"], description=description, name_line=name_line, name_hint=name_hint or ""
            ),
        },
    ]


def render_refinement(
    tools: list[Any], messages: list[Message], previous_calls: Any, prompts: Mapping | str | None = None
) -> list[Message]:
    """`previous_calls`: the earlier answer, as text or a list of ToolCall (rendered pythonic)."""
    ps = get_prompts(prompts)
    p = ps["refinement"]
    previous = previous_calls if isinstance(previous_calls, str) else render_calls(list(previous_calls))
    msgs = _with_system(fill(p["system"], functions=format_tools(tools, tool_format(ps))), messages)
    if msgs[-1]["role"] == "user":
        msgs[-1]["content"] = fill(p["user"], last=msgs[-1]["content"], previous=previous)
    else:
        msgs.append({"role": "user", "content": fill(p["user"], last="", previous=previous).lstrip()})
    return msgs


def apply_chat_template(tokenizer: Any, messages: list[Message], add_generation_prompt: bool = True) -> str:
    """The prompt text for `messages` via the tokenizer's chat template (a plain fallback if it has none)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    text = "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages)
    return text + ("<|assistant|>\n" if add_generation_prompt else "")


# ---------------------------------------------------------------- teacher agents of seed synthesis
# Used by open_toolace.synth.teacher (ToolACE's TSS / SDG / judge through an OpenAI-compatible teacher). Each
# system prompt names its agent as `[agent: NAME]` so server logs (and the tests' stub server) can tell the
# agents apart. The assistant agent uses "invocation" above, so the teacher answers as the student will.
TEACHER_PROMPTS: dict[str, dict[str, str]] = {
    "teacher_api": {
        "system": "[agent: api_designer] You design realistic web APIs for a tool-using assistant.",
        "user": "Domain: {domain}\nFunctionality: {functionality}\nAPIs that already exist here: {examples}\n"
        'Write one NEW API for this functionality as a JSON object with "name" (snake_case), "description" '
        'and "parameters" (JSON Schema: "type": "object", "properties" each with a type and a '
        'description, "required"). Answer with the JSON object only.',
    },
    "teacher_evolve": {
        "system": "[agent: api_evolver] You evolve API definitions to make them more varied and realistic.",
        "user": "API:\n{api}\n\nRewrite it: {operation}. Keep its name and purpose. Answer with the full JSON "
        "object only.",
    },
    "teacher_user": {
        "system": "[agent: user] You play a person using an AI assistant that can call tools. Write natural "
        "requests, in varied styles, that state every value a call needs (names, numbers with units, dates "
        "with the year, places).",
        "user": "Tools:\n{tools}\n{history}\nWrite the user's next message. It must need {need}. Answer with "
        "the message only.",
    },
    "teacher_tool": {
        "system": "[agent: tool] You simulate an API server. Answer every call with a short, realistic JSON "
        "response.",
        "user": "API:\n{api}\nCall: {call}\nAnswer with the JSON response only.",
    },
    "teacher_reply": {
        "system": "[agent: assistant_reply] You are the assistant. Tell the user the result of the tool call "
        "in one short sentence.",
        "user": "Request: {request}\nTool result: {result}",
    },
    "teacher_judge": {
        "system": "[agent: judge] You check tool-calling training data. Be strict.",
        "user": "Tools:\n{tools}\n\nConversation:\n{conversation}\n\nAnswer: {calls}\n\nCheck (1) hallucination: "
        "does any argument value not come from the conversation? (2) consistency: do the calls (or the "
        "absence of a call) do what the user asked, with the right tools? Answer with JSON only: "
        '{"hallucination": true|false, "consistent": true|false, "reason": "..."}',
    },
}
PROMPTS.update(TEACHER_PROMPTS)
LEAN_PROMPTS.update(TEACHER_PROMPTS)


def render_teacher(role: str, prompts: Mapping | str | None = None, **values: Any) -> list[Message]:
    """System + user messages of teacher agent `role` (api, evolve, user, tool, reply, judge)."""
    p = get_prompts(prompts)[f"teacher_{role}"]
    return [
        {"role": "system", "content": p["system"]},
        {"role": "user", "content": fill(p["user"], **values)},
    ]
