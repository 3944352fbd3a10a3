"""`toolace infer`: ask a model for the tool calls that answer one query, and print them parsed.

    toolace infer --tools tools.json "What's the weather in Paris?"            # embedded SmolLM2, CPU
    toolace infer --model embedded:smollm2-135m --adapter runs/x/adapter "..." --raw
    toolace infer --backend openai --model my-served-model --base-url http://127.0.0.1:8000/v1 --tools t.json "..."

TOOLS: a JSON file with a list of tool definitions (or one), a JSONL file with one per line, or inline JSON;
any shape `open_toolace.parse_tool` reads (OpenAI, BFCL, xLAM, Seal-Tools, API-Bank).
Prints the calls as `[f(a=1)]` (`--json`: a JSON list of {"name","arguments"}; `--raw`: the model's text).
`--refine N` (ToolACE-R): the model then re-reads its answer and answers again, until two answers in a row
are equal (normalized calls) or N steps; the final answer is printed, and stderr says how many steps were
taken, why it stopped, and the first answer when refinement changed it.
Exit status: 0 calls or a deliberate no-call, 1 when the output tried to be a call and could not be parsed,
2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from open_toolace.generation import Sampling


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "infer",
        help="print the tool calls a model makes for one query",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("query", help="the user's request")
    p.add_argument("--tools", required=True, help="tool definitions: JSON/JSONL file or inline JSON")
    p.add_argument("--model", default=None, help="model spec (default: embedded:smollm2-135m) or served name")
    p.add_argument("--adapter", default=None, help="LoRA adapter dir on top of --model")
    p.add_argument(
        "--prompt-set", default=None, help="lean | bfcl (default: the set saved with the adapter, else lean)"
    )
    p.add_argument("--backend", default="hf", choices=["hf", "openai", "vllm"])
    p.add_argument("--base-url", default=None, help="openai backend: server URL ending in /v1")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument(
        "--dtype", default="auto", help="hf backend: auto (open_toolace.hardware), float32, bfloat16"
    )
    p.add_argument("--threads", default="auto", help="torch threads: auto, or a number")
    p.add_argument(
        "--refine", type=int, default=0, metavar="N", help="then self-refine the answer, up to N steps"
    )
    p.add_argument("--raw", action="store_true", help="print the model's text as is")
    p.add_argument("--json", action="store_true", help="print the calls as JSON")
    p.set_defaults(func=cmd_infer)


def read_tools(arg: str) -> list:
    """Tools from a file (JSON list/object or JSONL) or an inline JSON string."""
    from open_toolace.formats.tools import parse_tools

    text = arg if arg.lstrip().startswith(("[", "{")) else None
    if text is None:
        path = Path(arg)
        if not path.is_file():
            raise ValueError(f"--tools {arg}: no such file (or inline JSON)")
        text = path.read_text(encoding="utf-8")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        rows = []  # maybe JSONL: one definition per line
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise ValueError(f"--tools {arg}: not JSON ({e}) nor JSONL (line {lineno})") from None
        obj = rows
    return parse_tools(obj)


def cmd_infer(args: argparse.Namespace) -> int:
    from open_toolace.formats import CallParseError, parse_calls, render_calls
    from open_toolace.generation import make_generator
    from open_toolace.models import DEFAULT_MODEL
    from open_toolace.prompts import render_invocation, resolve_prompt_set

    try:
        tools = read_tools(args.tools)
    except ValueError as e:  # ToolFormatError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.refine < 0:
        print(f"error: --refine must be >= 0, got {args.refine}", file=sys.stderr)
        return 2
    kw: dict = {}
    if args.backend == "hf":
        from open_toolace.hardware import apply_threads

        apply_threads(args.threads)
        kw["dtype"] = args.dtype
    if args.backend == "openai" and args.base_url:
        kw["base_url"] = args.base_url
    model = args.model or DEFAULT_MODEL
    gen = make_generator(args.backend, model, adapter=args.adapter, **kw)
    prompt_set = resolve_prompt_set(args.prompt_set, args.adapter or args.model)
    conversation = [{"role": "user", "content": args.query}]
    messages = render_invocation(tools, conversation, prompts=prompt_set)
    sampling = Sampling(n=1, temperature=args.temperature, max_new_tokens=args.max_new_tokens)
    text = gen.generate([messages], sampling, progress=False)[0][0]
    if args.refine:
        text = refine_answer(gen, tools, conversation, text, args.refine, prompt_set, sampling)
    if args.raw:
        print(text)
        return 0
    try:
        calls = parse_calls(text)
    except CallParseError as e:
        print(
            f"could not parse the model's output ({e.reason}): {e}\n--- output ---\n{text}", file=sys.stderr
        )
        return 1
    if args.json:
        print(json.dumps([c.to_dict() for c in calls], ensure_ascii=False, indent=2))
    else:
        print(render_calls(calls, style="auto"))
    if not calls and text.strip() not in ("", "[]"):
        print(f"(no call; the model said: {text.strip()[:300]})", file=sys.stderr)
    return 0


def refine_answer(
    gen: Any,
    tools: list,
    conversation: list[dict],
    first: str,
    n_steps: int,
    prompts: Any,
    sampling: Sampling,
) -> str:
    """Self-refine `first` (`refine.refine`, the prompt the model was trained on, the first answer's
    sampling) and return the final answer; the steps and the stop reason go to stderr, so stdout stays the
    answer alone, as without `--refine`."""
    from open_toolace.refine.adaptive import refine

    res = refine(gen, [(tools, conversation)], [first], n_steps=n_steps, prompts=prompts, sampling=sampling)
    final, steps, reason = res.final[0], res.steps[0], res.stop_reason[0]
    changed = f"; first answer: {first.strip()[:300]}" if final != first else "; answer unchanged"
    print(f"(refine: {steps} step(s), stopped: {reason}{changed})", file=sys.stderr)
    return final
