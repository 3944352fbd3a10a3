"""Agreement with BFCL's own decoder (`default_decode_ast_prompting`) where both accept an output.

Corpus: BFCL's ground truths (data/possible_answer, first allowed value per argument) written as
calls in several styles, plus hand-written BFCL-style outputs. Where both decoders accept, the
decoded calls must be identical (`calls_to_bfcl`; BFCL tuples compared as lists).

Not fed to BFCL: outputs with operators, lambdas or names as values — its decoder `eval`s binary
operators and lambda bodies, and turns names into strings; ours rejects those as non-literal.
"""

from __future__ import annotations

import json
from importlib.resources import files

import pytest

from open_toolace.formats import ToolCall, calls_to_bfcl, is_pythonic_renderable, parse_calls, render_calls

bfcl_utils = pytest.importorskip("bfcl_eval.model_handler.utils")

CATEGORIES = [
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
]


def _lists(v):
    if isinstance(v, (list, tuple)):
        return [_lists(x) for x in v]
    if isinstance(v, dict):
        return {k: _lists(x) for k, x in v.items()}
    return v


def _omitted(options) -> bool:
    return isinstance(options, list) and (not options or options[0] == "")


def _first_option(options):
    """BFCL lists the allowed values of an argument; "" means "may be left out". Inside nested dicts
    some values are option lists and some plain values."""
    v = options[0] if isinstance(options, list) and options else options
    if isinstance(v, dict):
        return {k: _first_option(o) for k, o in v.items() if not _omitted(o)}
    return v


def ground_truth_calls() -> list[list[ToolCall]]:
    out = []
    root = files("bfcl_eval") / "data" / "possible_answer"
    for cat in CATEGORIES:
        with (root / f"BFCL_v4_{cat}.json").open(encoding="utf-8") as f:
            for line in f:
                gt = json.loads(line)["ground_truth"]
                calls = []
                for item in gt:
                    ((name, args),) = item.items()
                    picked = {k: _first_option(o) for k, o in args.items() if not _omitted(o)}
                    calls.append(ToolCall(name, picked))
                out.append(calls)
    return out


def _py_repr(v) -> str:
    """Another writer, in Python's own repr style (single quotes), to vary the corpus."""
    if isinstance(v, list):
        return "[" + ", ".join(_py_repr(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {_py_repr(x)}" for k, x in v.items()) + "}"
    return repr(v)


def styles(calls: list[ToolCall]) -> list[str]:
    ours = render_calls(calls)
    repr_style = (
        "["
        + ", ".join(
            f"{c.name}(" + ",".join(f"{k}={_py_repr(v)}" for k, v in c.arguments.items()) + ")" for c in calls
        )
        + "]"
    )
    return [ours, repr_style, f"```python\n{ours}\n```", ours[1:-1], f"\n {ours} \n"]


HAND_WRITTEN = [
    "[math.factorial(number=5)]",
    "math.factorial(number=5)",
    "[f(a=1), g(b='x')]",
    "f(a=1), g(b='x')",
    "[calc(x=-3, y=-0.5, z=[1, -2], w={'k': -1})]",
    "[f(point=(1, 2), pts=[(1, 2), (3, 4)])]",
    '[f(flag=True, none=None, s="it\'s", t=\'say "hi"\')]',
    "[f(nested={'a': {'b': [1, {'c': None}]}})]",
    "[f(unicode='Zürich 東京', esc='a\\nb')]",
    "[f()]",
    "[f(big=123456789012345678901234567890, sci=1.5e-10)]",
    "```\n[f(a=1)]\n```",
    "[a.b.c(d=1)]",
    "[f(a=1.0, b=2)]",
]


def bfcl_decode(text: str):
    try:
        return _lists(bfcl_utils.default_decode_ast_prompting(text))
    except Exception:  # BFCL's decoder raises anything from SyntaxError to AssertionError
        return None


def ours(text: str):
    try:
        return calls_to_bfcl(parse_calls(text))
    except ValueError:
        return None


def test_ground_truths_agree_with_bfcl_decoder():
    compared = skipped = 0
    disagreements = []
    for calls in ground_truth_calls():
        if not all(is_pythonic_renderable(c) for c in calls):
            skipped += 1
            continue
        for text in styles(calls):
            theirs, mine = bfcl_decode(text), ours(text)
            assert mine is not None, text  # we read every style of every ground truth
            if theirs is None:
                continue
            compared += 1
            if theirs != mine:
                disagreements.append((text, theirs, mine))
        # and both give back the ground truth itself
        assert ours(render_calls(calls)) == calls_to_bfcl(calls)
    assert not disagreements, disagreements[:5]
    assert compared >= 1000, (compared, skipped)


@pytest.mark.parametrize("text", HAND_WRITTEN)
def test_hand_written_agree_with_bfcl_decoder(text):
    theirs, mine = bfcl_decode(text), ours(text)
    assert mine is not None
    assert theirs is not None, "corpus entry BFCL itself does not read"
    assert theirs == mine


@pytest.mark.parametrize(
    "text",
    [
        "[f(a=x)]",  # BFCL: the string "x"; ours: non_literal
        "[f(a=g(b=1))]",  # BFCL: a nested call dict; ours: non_literal
        "[f(a=...)]",  # BFCL: "..."; ours: non_literal
        "[f(1)]",  # BFCL: drops the positional argument silently; ours: positional_args
    ],
)
def test_where_bfcl_is_lenient_we_reject(text):
    assert bfcl_decode(text) is not None
    assert ours(text) is None


def test_unary_plus_bfcl_bug():
    # BFCL's decoder negates every unary operator: `+5` comes back as -5. We read +5 as 5.
    assert bfcl_decode("[f(a=+5)]") == [{"f": {"a": -5}}]
    assert ours("[f(a=+5)]") == [{"f": {"a": 5}}]
