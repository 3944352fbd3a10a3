"""Scorer parity: our pipeline (parse_calls -> calls_to_bfcl -> bfcl_eval's ast_checker) gives the verdicts
bfcl_eval gives on its own decode, for hand-written outputs on real BFCL items; (ir)relevance both numbers."""

from __future__ import annotations

import pytest

from open_toolace.evaluate.bfcl import load_category, resolve_categories
from open_toolace.evaluate.scoring import BFCL_MODEL_NAME, score_bfcl


def bfcl_verdict(text: str, item: dict, category: str) -> tuple[bool, str | None]:
    """What bfcl_eval's eval_runner does for a prompting model: default decode -> format check -> ast_checker."""
    from bfcl_eval.constants.enums import Language, ReturnFormat
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
    from bfcl_eval.model_handler.utils import default_decode_ast_prompting
    from bfcl_eval.utils import is_function_calling_format_output

    lang = (
        "java" if category == "simple_java" else "javascript" if category == "simple_javascript" else "python"
    )
    try:
        decoded = default_decode_ast_prompting(text, ReturnFormat(lang))
    except Exception:
        return False, "ast_decoder:decoder_failed"
    if not is_function_calling_format_output(decoded):
        return False, "ast_decoder:decoder_wrong_output_format"
    r = ast_checker(
        item["function"], decoded, item["ground_truth"], Language(lang), category, BFCL_MODEL_NAME
    )
    return r["valid"], None if r["valid"] else r["error_type"]


def item(category: str, index: int = 0) -> dict:
    return load_category(category, index + 1)[index]


# (category, index, output, expected valid) — hand-written against the real items' possible answers
CASES = [
    # simple_python_0: calculate_triangle_area(base=[10], height=[5], unit=["units", ""])
    ("simple_python", 0, "[calculate_triangle_area(base=10, height=5)]", True),
    ("simple_python", 0, '[calculate_triangle_area(base=10, height=5, unit="units")]', True),
    ("simple_python", 0, "calculate_triangle_area(base=10, height=5)", True),  # no brackets: both wrap
    ("simple_python", 0, "[calculate_triangle_area(base=11, height=5)]", False),  # wrong value
    ("simple_python", 0, '[calculate_triangle_area(base="10", height=5)]', False),  # wrong type
    ("simple_python", 0, "[calculate_triangle_area(base=10)]", False),  # missing required
    ("simple_python", 0, "[calculate_triangle_area(base=10, height=5, color=1)]", False),  # extra parameter
    (
        "simple_python",
        0,
        "[calculate_triangle_area(base=10, height=5), calculate_triangle_area(base=10, height=5)]",
        False,
    ),  # wrong count
    ("simple_python", 0, "[calc_area(base=10, height=5)]", False),  # wrong function
    ("simple_python", 0, "[]", False),  # empty
    ("simple_python", 0, "[calculate_triangle_area(base=10, height=5", False),  # truncated
    # parallel_0: spotify.play x2, any order
    (
        "parallel",
        0,
        '[spotify.play(artist="Taylor Swift", duration=20), spotify.play(artist="Maroon 5", duration=15)]',
        True,
    ),
    (
        "parallel",
        0,
        '[spotify.play(artist="Maroon 5", duration=15), spotify.play(artist="Taylor Swift", duration=20)]',
        True,
    ),  # reordered
    ("parallel", 0, '[spotify.play(artist="Taylor Swift", duration=20)]', False),  # wrong count
    (
        "parallel",
        0,
        '[spotify.play(artist="Taylor Swift", duration=20), spotify.play(artist="Maroon 5", duration=16)]',
        False,
    ),
    # multiple_0: pick triangle_properties.get among two
    ("multiple", 0, "[triangle_properties.get(side1=5, side2=4, side3=3)]", True),
    ("multiple", 0, "[triangle_properties.get(side1=5, side2=4, side3=3, get_area=True)]", True),
    ("multiple", 0, "[circle_properties.get(radius=3)]", False),
    ("multiple", 0, "[triangle_properties.get(side1=5.0, side2=4, side3=3)]", False),  # float for integer
    # parallel_multiple_0
    (
        "parallel_multiple",
        0,
        "[math_toolkit.product_of_primes(count=5), math_toolkit.sum_of_multiples(lower_limit=1, upper_limit=1000, multiples=[3, 5])]",
        True,
    ),
    (
        "parallel_multiple",
        0,
        "[math_toolkit.sum_of_multiples(lower_limit=1, upper_limit=1000, multiples=[3, 5])]",
        False,
    ),
    (
        "parallel_multiple",
        0,
        "[math_toolkit.sum_of_multiples(lower_limit=1, upper_limit=1000, multiples=[5, 3]), math_toolkit.product_of_primes(count=5)]",
        False,
    ),
    # Java / JavaScript: BFCL's own decoders; values are source strings
    (
        "simple_java",
        0,
        "[GeometryPresentation.createPresentation(controller=mapController, parent=mapArea)]",
        True,
    ),
    (
        "simple_java",
        0,
        '[GeometryPresentation.createPresentation(controller="mapController", parent="mapArea")]',
        True,
    ),
    ("simple_java", 0, "[GeometryPresentation.createPresentation(controller=mapController)]", False),
    ("simple_javascript", 0, "[validateUserInput(inputField=userInputField, isComplete=true)]", True),
    ("simple_javascript", 0, "[validateUserInput(inputField=userInputField, isComplete=false)]", False),
    ("live_simple", 0, None, True),  # filled from the ground truth below
]


def first_answer(possible: dict) -> dict:
    """One accepted value per parameter ("" = may be omitted, so such parameters are left out)."""
    return {k: next(v for v in vals if v != "") for k, vals in possible.items() if any(v != "" for v in vals)}


def answer_calls(it: dict) -> list:
    from open_toolace.formats import ToolCall

    return [ToolCall(name, first_answer(params)) for gt in it["ground_truth"] for name, params in gt.items()]


def _first_answer_output(it: dict) -> str:
    from open_toolace.formats import render_calls

    return render_calls(answer_calls(it))


@pytest.mark.parametrize("category,index,output,expected", CASES)
def test_verdicts_match_bfcl(category, index, output, expected):
    it = item(category, index)
    if output is None:
        output = _first_answer_output(it)
    ours = score_bfcl(output, it, category)
    ref_valid, ref_type = bfcl_verdict(output, it, category)
    assert ours["valid"] == ref_valid == expected, (ours, ref_type)
    if ref_type and ours["decoded"] is not None:
        assert ours["error_type"] == ref_type


def test_prose_is_invalid_for_ast_but_not_a_crash():
    it = item("simple_python")
    out = score_bfcl("I am sorry, I cannot compute that.", it)
    assert (
        out["valid"] is False
        and bfcl_verdict("I am sorry, I cannot compute that.", it, "simple_python")[0] is False
    )
    assert out["decoded"] == []  # parse_calls: prose = no call


@pytest.mark.parametrize(
    "category",
    [
        "simple_python",
        "multiple",
        "parallel",
        "parallel_multiple",
        "live_simple",
        "live_multiple",
        "live_parallel",
        "live_parallel_multiple",
    ],
)
def test_sweep_generated_outputs_match_bfcl(category):
    """Correct answers rendered from the possible answers, and three mutations of each, on 12 items."""
    from open_toolace.formats import ToolCall, render_calls

    checked = 0
    for it in load_category(category, 12):
        first, *rest = answer_calls(it)
        name, args = first.name, first.arguments
        variants = [render_calls([first, *rest])]
        variants.append(render_calls([ToolCall(name, {**args, "zz_extra": 1}), *rest]))  # extra param
        if args:
            k = next(iter(args))
            variants.append(render_calls([ToolCall(name, {a: v for a, v in args.items() if a != k}), *rest]))
            v = args[k]
            if isinstance(v, bool):
                bad = not v
            else:
                bad = v + 1000 if isinstance(v, (int, float)) else "zz_" + str(v)
            variants.append(render_calls([ToolCall(name, {**args, k: bad}), *rest]))
        for text in variants:
            ours = score_bfcl(text, it, category)
            ref_valid, ref_type = bfcl_verdict(text, it, category)
            assert ours["valid"] == ref_valid, (it["id"], text, ours, ref_type)
            assert ours["error_type"] == ref_type, (it["id"], text)
            checked += 1
    assert checked >= 36


def test_irrelevance_bfcl_and_honest_numbers():
    it = item("irrelevance")
    verdicts = {
        "[]": (True, True),  # valid empty call list: both
        "I cannot help with that; none of the functions fit.": (True, True),  # refusal prose: both
        "[calculate_area(base=1": (True, False),  # unparseable: BFCL credits it, honest does not
        "[determine_body_mass_index(weight=70, height=1.75)]": (False, False),  # a call: wrong for both
    }
    for text, (bfcl_ok, honest_ok) in verdicts.items():
        out = score_bfcl(text, it)
        assert (out["valid"], out["honest_valid"]) == (bfcl_ok, honest_ok), text
    assert score_bfcl("[calculate_area(base=1", it)["abstention"] == "unparseable"
    assert score_bfcl("[]", it, "live_irrelevance")["abstention"] == "empty"


def test_relevance_needs_a_decodable_non_empty_call():
    it = item("live_relevance")
    assert score_bfcl("[get_weather(city='Paris')]", it)["valid"] is True
    for text in ["[]", "No function fits.", "[get_weather(city='Paris'"]:
        out = score_bfcl(text, it)
        assert out["valid"] is False and out["error_type"] == "relevance_error:decoder_failed"


def test_checker_crash_is_recorded_not_raised():
    it = dict(item("simple_python"))
    it["function"] = [{"name": "calculate_triangle_area", "parameters": {"properties": {}}}]  # no 'required'
    out = score_bfcl("[calculate_triangle_area(base=10, height=5)]", it)
    assert out["valid"] is False and out["error_type"].startswith("checker_exception:")


def test_model_name_is_a_bfcl_prompting_model_without_dot_rewrite():
    from bfcl_eval.constants.model_config import MODEL_CONFIG_MAPPING

    cfg = MODEL_CONFIG_MAPPING[BFCL_MODEL_NAME.replace("_", "/")]
    assert cfg.underscore_to_dot is False


def test_resolve_categories():
    assert resolve_categories("non_live") == [
        "simple_python",
        "simple_java",
        "simple_javascript",
        "multiple",
        "parallel",
        "parallel_multiple",
        "irrelevance",
    ]
    assert resolve_categories("live_simple,simple_python") == ["simple_python", "live_simple"]
    assert len(resolve_categories("all")) == 13
    with pytest.raises(ValueError, match="out of scope"):
        resolve_categories("multi_turn_base")
    with pytest.raises(ValueError, match="unknown"):
        resolve_categories("simpel")


def test_all_categories_load_with_answers():
    from open_toolace.evaluate.bfcl import CATEGORIES, item_messages, prompt_functions

    for cat in CATEGORIES:
        items = load_category(cat, 3)
        assert len(items) == 3 and all(it["category"] == cat for it in items)
        assert (items[0]["ground_truth"] is None) == ("relevance" in cat)
        assert item_messages(items[0])[-1]["role"] == "user"
    java = load_category("simple_java", 1)[0]
    shown = prompt_functions(java)
    assert all(p["type"] == "string" for p in shown[0]["parameters"]["properties"].values())
    assert (
        java["function"][0]["parameters"]["properties"]["controller"]["type"] == "any"
    )  # checker copy untouched
