"""ShareGPT tool-calling conversations (LLaMA-Factory style) -> examples, one per assistant decision.

Source shape: `{"conversations": [{"from": "human"|"gpt"|"function_call"|"observation", "value": str}],
"tools": "<JSON list>" | [...], "system": str}`. `function_call` values are `{"name","arguments"}` JSON
(one object or a list for parallel calls). Both `toolace_sample_sharegpt.json` (tools inside the system
prompt, `tools: "[]"`) and `glaive_toolcall_en_demo.json` (tools in `tools`) have this shape.

Which turns become examples (`turns=`):
- `decisions` (default): every `function_call` turn (calls = its calls) and every `gpt` text turn that
  answers a *user* turn while tools are offered (calls = `[]`: the right move was not to call).
- `calls`: only the `function_call` turns.
- `all`: also `gpt` turns that summarise a tool result (`meta.kind = "post_tool_answer"`, calls `[]`), and
  text turns of conversations that offer no tools at all (`meta.kind = "chat"`, `tools: []`).
A conversation that yields no example (glaive has 109 with no tools: plain chat) is a reject with reason
`no_tools` (or `no_selected_turns`), so every source record is accounted for.
Each example holds the conversation up to that turn; `meta.turn` is the turn's index in `conversations`
and `meta.kind` is `call`, `no_call` or `post_tool_answer`, so a conversation's examples can be grouped.

`repair_names`: the ToolACE ShareGPT export truncated call names to their last word (`"API"` for
`"Market Trends API"`). A name that matches no tool is mapped back when exactly one tool's name ends with
that word (ties broken by the call's argument names fitting the tool's parameters); repairs are listed in
`meta.repaired_names`, unrepairable names are kept and show up as `unknown_function` in rule checks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from open_toolace.data.records import Reject, call_message, make_example, make_reject
from open_toolace.data.sources import iter_records
from open_toolace.formats import CallParseError, ToolCall, parse_calls
from open_toolace.formats.tools import Tool, ToolFormatError, parse_tools

ROLE_OF = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "observation": "tool",
}
TURN_MODES = ("decisions", "calls", "all")
_DECODER = json.JSONDecoder()


def _tools_in_system(system: str) -> tuple[list[Any], bool]:
    """A JSON tool list embedded in a system prompt (ToolACE style); returns (objs, found)."""
    for m in re.finditer(r"\[\s*\{", system):
        try:
            objs, _ = _DECODER.raw_decode(system, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(objs, list) and objs and all(isinstance(o, dict) and "name" in o for o in objs):
            return objs, True
    return [], False


def load_tool_list(record: dict) -> tuple[list[Tool], bool]:
    """Tools of a ShareGPT record and whether they came from the system prompt. Raises ToolFormatError."""
    raw = record.get("tools") or []
    tools = parse_tools(raw)
    if not tools and isinstance(record.get("system"), str):
        objs, found = _tools_in_system(record["system"])
        if found:
            return parse_tools(objs), True
    return tools, False


def _words(name: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9_]+", name)


def repair_call_names(calls: list[ToolCall], tools: list[Tool]) -> tuple[list[ToolCall], dict[str, str]]:
    """Map truncated call names back to the one tool whose name ends with that word (see module doc)."""
    names = {t.name for t in tools}
    repaired: dict[str, str] = {}
    out = []
    for call in calls:
        if call.name not in names:
            cands = [t for t in tools if _words(t.name) and _words(t.name)[-1] == call.name]
            if len(cands) > 1:  # "API" fits several tools: keep those whose parameters cover the arguments
                cands = [t for t in cands if set(call.arguments) <= set(t.parameters.get("properties") or {})]
            if len(cands) == 1:
                repaired[call.name] = cands[0].name
                call = ToolCall(cands[0].name, call.arguments)
        out.append(call)
    return out, repaired


def read_sharegpt(
    path: str | Path, *, source: str = "sharegpt", turns: str = "decisions", repair_names: bool = True
) -> Iterator[dict | Reject]:
    """Yield examples and rejects from a ShareGPT tool-calling file (see module doc)."""
    if turns not in TURN_MODES:
        raise ValueError(f"turns must be one of {TURN_MODES}, got {turns!r}")
    for item in iter_records(path):
        if not isinstance(item, tuple):
            yield item
            continue
        line, index, rec = item
        yield from _conversation(rec, line, index, source, turns, repair_names)


def _conversation(
    rec: Any, line: int, index: int, source: str, turns: str, repair_names: bool
) -> Iterator[dict | Reject]:
    conv = rec.get("conversations") if isinstance(rec, dict) else None
    if not isinstance(conv, list) or not conv:
        yield make_reject(line, "bad_record", rec, "expected an object with a non-empty 'conversations' list")
        return
    try:
        tools, from_system = load_tool_list(rec)
    except ToolFormatError as e:
        yield make_reject(line, "bad_tool", rec, str(e), index=index)
        return
    messages: list[dict] = []
    system = rec.get("system")
    if isinstance(system, str) and system.strip() and not from_system:
        messages.append({"role": "system", "content": system})  # a real instruction, not a tool listing
    meta_base = {"source": source, "line": line, "index": index}
    if from_system:
        meta_base["tools_from"] = "system"
    emitted = 0  # examples and turn rejects: a record with neither gets one reject of its own
    for t, turn in enumerate(conv):
        role, value = (turn.get("from"), turn.get("value")) if isinstance(turn, dict) else (None, None)
        if not isinstance(value, str) or (role not in ROLE_OF and role != "function_call"):
            yield make_reject(
                line,
                "bad_turn",
                rec,
                f"turn {t} is not {{'from': human|gpt|function_call|observation, 'value': str}}",
                index=index,
                turn=t,
            )
            return
        meta = {**meta_base, "turn": t}
        if role == "function_call":
            try:
                calls = parse_calls(value)
            except CallParseError as e:
                yield make_reject(line, f"bad_call:{e.reason}", rec, f"turn {t}: {e}", index=index, turn=t)
                emitted += 1
                messages.append({"role": "assistant", "content": value})
                continue
            if not calls:  # a function_call turn that calls nothing (ToolACE has one, followed by a result)
                yield make_reject(
                    line,
                    "empty_function_call",
                    rec,
                    f"turn {t}: function_call holds no call",
                    index=index,
                    turn=t,
                )
                emitted += 1
                messages.append({"role": "assistant", "content": value})
                continue
            if repair_names:
                calls, repaired = repair_call_names(calls, tools)
                if repaired:
                    meta["repaired_names"] = repaired
            if messages and messages[-1]["role"] in ("user", "tool"):
                yield make_example(f"{source}-{index}-t{t}", messages, tools, calls, kind="call", **meta)
                emitted += 1
            messages.append(call_message(calls, value))
        elif ROLE_OF[role] == "assistant":
            prev = messages[-1]["role"] if messages else None
            kind = "no_call" if prev == "user" else "post_tool_answer" if prev == "tool" else None
            wanted = kind == "no_call" and turns != "calls" or kind == "post_tool_answer" and turns == "all"
            if wanted and (tools or turns == "all") and not value.strip():
                detail = f"turn {t}: empty text answer (nothing to learn as a no-call example)"
                yield make_reject(line, "empty_answer", rec, detail, index=index, turn=t)
                emitted += 1
            elif wanted and (tools or turns == "all"):
                kind = kind if tools else "chat"  # no tools offered at all: plain chat (turns="all" only)
                yield make_example(
                    f"{source}-{index}-t{t}", messages, tools, [], kind=kind, answer=value, **meta
                )
                emitted += 1
            messages.append({"role": "assistant", "content": value})
        else:
            messages.append({"role": ROLE_OF[role], "content": value})
    if not emitted:  # a conversation with nothing to learn about tool use is still accounted for
        if not tools:
            yield make_reject(
                line, "no_tools", rec, "no tools offered and no call made (use turns='all')", index=index
            )
        else:
            yield make_reject(
                line, "no_selected_turns", rec, f"no turn selected by turns={turns!r}", index=index
            )
