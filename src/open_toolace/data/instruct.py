"""Alpaca-style `{instruction, input, output}` tool data -> examples: the ToolRL mix and API-Bank level 3.

Both put the tools and the dialogue history in prompt text, so these readers take that text apart.
One source record is one example (no turn explosion); `meta.kind` says `call`, `no_call` (a text answer
to a user turn) or `post_tool_answer` (a text answer after a tool result).

ToolRL (`toolrl_rlla_sft.json`): tools listed in `instruction` as `N. Name: ...\\nDescription: ...\\n
Parameters: {xLAM-style dict}`; history in `input` as `<user>`, `<think>`, `<tool_call>`, `<obs>`,
`<response>` blocks; `output` is `<think>` + `<tool_call>` (one JSON `{"name","parameters"}` per line)
and/or `<response>`. The reasoning of the output is kept in `meta.reasoning`, a text answer in `meta.answer`.

API-Bank lv3 (`apibank_lv3_train.json`): the first lines of `input` are API docs as JSON (`apiCode`);
then `User: ...`, `AI: ...` and `API-Request: [Api(k='v')]->result` lines. `ToolSearcher` results are
python-literal tool docs: those tools are added to the example's tools, as the dialogue has discovered
them. `output` is `API-Request: [Api(k='v')]` (a call) or `AI: text` (no call, kept in `meta.answer`).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from open_toolace.data.records import Reject, call_message, make_example, make_reject
from open_toolace.data.sources import iter_records
from open_toolace.formats import CallParseError, ToolCall, parse_calls
from open_toolace.formats.tools import Tool, ToolFormatError, tool_from_apibank, tool_from_xlam

_DECODER = json.JSONDecoder()
_TAG = re.compile(r"<(user|think|tool_call|obs|response)>(.*?)</\1>", re.S)
_TOOL_HEAD = re.compile(r"^\d+\. Name: ", re.M)


def _kind(messages: list[dict], calls: list) -> str:
    if calls:
        return "call"
    return "post_tool_answer" if messages and messages[-1]["role"] == "tool" else "no_call"


# ---------------------------------------------------------------- ToolRL


def toolrl_tools(instruction: str) -> list[Tool]:
    """The numbered tool list of a ToolRL instruction. Raises ToolFormatError naming the bad tool."""
    section = instruction.split("**Available Tools**", 1)[-1].split("**Steps for Each Turn**", 1)[0]
    heads = list(_TOOL_HEAD.finditer(section))
    tools = []
    for i, h in enumerate(heads):
        block = section[h.end() : heads[i + 1].start() if i + 1 < len(heads) else len(section)]
        m = re.match(r"(.*?)\nDescription: (.*?)\nParameters: ", block, re.S)
        if not m:
            raise ToolFormatError(f"tool {i + 1}: expected 'Name/Description/Parameters' lines")
        try:
            params, _ = _DECODER.raw_decode(block, m.end())
        except json.JSONDecodeError as e:
            raise ToolFormatError(f"tool {i + 1} ({m.group(1)!r}): Parameters is not JSON ({e.msg})") from e
        tools.append(
            tool_from_xlam(
                {"name": m.group(1).strip(), "description": m.group(2).strip(), "parameters": params}
            )
        )
    return tools


def toolrl_calls(block: str) -> list[ToolCall]:
    """The JSON objects of a ToolRL `<tool_call>` block (`{"name", "parameters"|"arguments"}`, one per line)."""
    calls, pos = [], 0
    while True:
        while pos < len(block) and block[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(block):
            return calls
        try:
            obj, pos = _DECODER.raw_decode(block, pos)
        except json.JSONDecodeError as e:
            raise CallParseError("bad_json", f"tool_call block is not JSON objects ({e.msg})") from None
        calls.append(ToolCall.from_dict(obj))  # reads "parameters" as well as "arguments"


def _toolrl_history(text: str) -> tuple[list[dict], int]:
    """Messages of a ToolRL `input`, and how many history tool calls could not be parsed."""
    messages, unparsed = [], 0
    for tag, body in _TAG.findall(text):
        body = body.strip()
        if tag == "user":
            messages.append({"role": "user", "content": body})
        elif tag == "obs":
            messages.append({"role": "tool", "content": body})
        elif tag == "response":
            messages.append({"role": "assistant", "content": body})
        elif tag == "tool_call":
            try:
                messages.append(call_message(toolrl_calls(body), body))
            except CallParseError:
                messages.append({"role": "assistant", "content": body})
                unparsed += 1
    return messages, unparsed


def read_toolrl(path: str | Path, *, source: str = "toolrl") -> Iterator[dict | Reject]:
    """Yield one example (or reject) per ToolRL record (see module doc)."""
    for item in iter_records(path):
        if not isinstance(item, tuple):
            yield item
            continue
        line, index, rec = item
        if not isinstance(rec, dict) or not all(
            isinstance(rec.get(k), str) for k in ("instruction", "input", "output")
        ):
            yield make_reject(
                line, "bad_record", rec, "expected {instruction, input, output} strings", index=index
            )
            continue
        try:
            tools = toolrl_tools(rec["instruction"])
        except ToolFormatError as e:
            yield make_reject(line, "bad_tool", rec, str(e), index=index)
            continue
        messages, unparsed = _toolrl_history(rec["input"])
        if not messages or messages[-1]["role"] not in ("user", "tool"):
            yield make_reject(line, "bad_history", rec, "input has no <user> turn to answer", index=index)
            continue
        out = dict((tag, body.strip()) for tag, body in _TAG.findall(rec["output"]))
        meta: dict[str, Any] = {"source": source, "line": line, "index": index}
        if "tool_call" in out:
            try:
                calls = toolrl_calls(out["tool_call"])
            except CallParseError as e:
                yield make_reject(line, f"bad_call:{e.reason}", rec, str(e), index=index)
                continue
        elif out.get("response"):
            calls = []
        else:
            yield make_reject(
                line,
                "no_answer",
                rec,
                "output has neither <tool_call> nor a non-empty <response>",
                index=index,
            )
            continue
        meta["kind"] = _kind(messages, calls)
        if "response" in out:
            meta["answer"] = out["response"]
        if "think" in out:
            meta["reasoning"] = out["think"]
        if unparsed:
            meta["history_unparsed_calls"] = unparsed
        yield make_example(f"{source}-{index}", messages, tools, calls, **meta)


# ---------------------------------------------------------------- API-Bank


def _split_top(text: str, at: re.Pattern) -> list[str]:
    """Split at `at` matches that sit outside quotes and brackets (quote/bracket-aware, no eval)."""
    parts, depth, quote, last, i = [], 0, "", 0, 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and (m := at.match(text, i)):
            parts.append(text[last:i])
            last = i = m.end()
            continue
        i += 1
    parts.append(text[last:])
    return parts


_ARG_SEP = re.compile(r",\s*(?=[A-Za-z_]\w*\s*=)")
_CALL_SEP = re.compile(r",\s*(?=[A-Za-z_][\w.]*\()")
_CALL = re.compile(r"^\s*([A-Za-z_][\w.]*)\((.*)\)\s*$", re.S)


def _json_value(v: Any) -> Any:
    """Tuples -> lists; raises TypeError for what JSON cannot hold (sets, bytes, complex, NaN)."""
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        if not all(isinstance(k, str) for k in v):
            raise TypeError("non-string key")
        return {k: _json_value(x) for k, x in v.items()}
    if (
        v is None
        or isinstance(v, (str, bool, int))
        or (isinstance(v, float) and v == v and abs(v) != float("inf"))
    ):
        return v
    raise TypeError(type(v).__name__)


def _loose_value(text: str) -> Any:
    try:  # a literal (never evaluated code) that JSON can hold; anything else stays the raw string
        return _json_value(ast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def apibank_calls(text: str) -> tuple[list[ToolCall], bool]:
    """Calls of an API-Bank request `[Api(k='v', n=2)]`, and whether the lenient dialect was needed.

    API-Bank's own tooling accepts unquoted values (`[FindDentist(location=London, service=root canal)]`);
    when `parse_calls` refuses such text, values are split at top-level `, key=` and each is read as a
    Python literal if it is one, else kept as the raw string. Raises CallParseError if even that fails.
    """
    try:
        return parse_calls(text), False
    except CallParseError as e:
        if e.reason not in ("syntax", "non_literal"):
            raise
        error = e
    body = text.strip()
    if _CALL.match(body):  # a bare `Api(k=v)` without the list brackets (seen once in lv3)
        body = f"[{body}]"
    if not (body.startswith("[") and body.endswith("]")):
        raise error
    calls = []
    for chunk in _split_top(body[1:-1], _CALL_SEP):
        m = _CALL.match(chunk)
        if not m:
            raise error
        args: dict[str, Any] = {}
        for part in _split_top(m.group(2), _ARG_SEP) if m.group(2).strip() else []:
            key, eq, value = part.partition("=")
            if not eq or not key.strip().isidentifier() or key.strip() in args:
                raise error
            args[key.strip()] = _loose_value(value.strip())
        calls.append(ToolCall(m.group(1), args))
    return calls, True


def _split_request(rest: str) -> tuple[str, str | None]:
    """`[Api(k='v')]->result` -> (call text, result text); the call ends at the first `->` after which
    the text before it parses as calls."""
    for m in re.finditer(r"->", rest):
        head = rest[: m.start()]
        try:
            apibank_calls(head)
        except CallParseError:
            continue
        return head, rest[m.end() :]
    return rest, None


_APOSTROPHE = re.compile(r"(?<=[A-Za-z])'(?=[a-z])")


class _NamesAsStrings(ast.NodeTransformer):
    # API-Bank docs sometimes write `'type': str` (a bare name): read it as the string "str".
    def visit_Name(self, node: ast.Name) -> ast.Constant:
        return ast.copy_location(ast.Constant(node.id), node)


def _apibank_doc(text: str) -> dict | None:
    """A ToolSearcher result is a python-literal tool doc; parse it as a literal (never evaluated)."""
    obj = None
    # Second try: apostrophes inside single-quoted words ('the patient's condition') escaped.
    for candidate in (text.strip(), _APOSTROPHE.sub("\\\\'", text.strip())):
        try:
            obj = ast.literal_eval(_NamesAsStrings().visit(ast.parse(candidate, mode="eval")).body)
            break
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    if not (isinstance(obj, dict) and "name" in obj and "input_parameters" in obj):
        return None
    if not isinstance(obj["input_parameters"], dict):  # `{'none'}` (a set) means "no parameters"
        obj["input_parameters"] = {}
    return obj


def apibank_context(text: str) -> tuple[list[Tool], list[dict], int]:
    """Tools, messages and the number of unparsed history requests of an API-Bank `input`."""
    tools: dict[str, Tool] = {}
    messages: list[dict] = []
    unparsed = 0
    for raw in text.split("\n"):
        line = raw.strip()
        if line.startswith("{"):
            tool = tool_from_apibank(json.loads(line))
            tools.setdefault(tool.name, tool)
        elif line.startswith("User:"):
            messages.append({"role": "user", "content": line[5:].strip()})
        elif line.startswith("AI:"):
            messages.append({"role": "assistant", "content": line[3:].strip()})
        elif line.startswith("API-Request:"):
            head, result = _split_request(line[len("API-Request:") :].strip())
            try:
                messages.append(call_message(apibank_calls(head)[0], head))
            except CallParseError:
                messages.append({"role": "assistant", "content": head})
                unparsed += 1
            if result is not None:
                messages.append({"role": "tool", "content": result.strip()})
                doc = _apibank_doc(result)
                if doc is not None:
                    tool = tool_from_apibank(doc)
                    tools.setdefault(tool.name, tool)
    return list(tools.values()), messages, unparsed


def read_apibank(path: str | Path, *, source: str = "apibank") -> Iterator[dict | Reject]:
    """Yield one example (or reject) per API-Bank lv3 record (see module doc)."""
    for item in iter_records(path):
        if not isinstance(item, tuple):
            yield item
            continue
        line, index, rec = item
        if not isinstance(rec, dict) or not all(isinstance(rec.get(k), str) for k in ("input", "output")):
            yield make_reject(
                line, "bad_record", rec, "expected {instruction, input, output} strings", index=index
            )
            continue
        try:
            tools, messages, unparsed = apibank_context(rec["input"])
        except (ToolFormatError, json.JSONDecodeError) as e:
            yield make_reject(line, "bad_tool", rec, f"API description: {e}", index=index)
            continue
        if not messages or messages[-1]["role"] not in ("user", "tool"):
            why = (
                "the turn to predict follows an AI: message, not a user turn or API result"
                if messages
                else "no User: turn"
            )
            yield make_reject(line, "bad_history", rec, why, index=index)
            continue
        out = rec["output"].strip()
        meta: dict[str, Any] = {"source": source, "line": line, "index": index}
        if out.startswith("API-Request:"):
            try:
                calls, lenient = apibank_calls(out[len("API-Request:") :])
            except CallParseError as e:
                yield make_reject(line, f"bad_call:{e.reason}", rec, str(e), index=index)
                continue
            if not calls:
                yield make_reject(line, "empty_request", rec, "API-Request holds no call", index=index)
                continue
            if lenient:
                meta["lenient_parse"] = True
        else:
            calls = []
            meta["answer"] = out[3:].strip() if out.startswith("AI:") else out
            if not meta["answer"]:
                yield make_reject(line, "no_answer", rec, "output is an empty AI: response", index=index)
                continue
        meta["kind"] = _kind(messages, calls)
        if unparsed:
            meta["history_unparsed_calls"] = unparsed
        yield make_example(f"{source}-{index}", messages, tools, calls, **meta)
