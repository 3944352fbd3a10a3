"""THE scorer: one model output + one BFCL-format item -> a verdict, using bfcl_eval's own `ast_checker`.

It mirrors `bfcl_eval.eval_checker.eval_runner` step by step and re-implements no checking:

- AST categories (`_evaluate_single_ast_entry`): decode the text; a decode failure is invalid
  (`ast_decoder:decoder_failed`); a decoded value that is not `[{func: {arg: value}}, ...]` is invalid
  (`ast_decoder:decoder_wrong_output_format`); otherwise `ast_checker(function, decoded, ground_truth,
  language, category, model_name)` decides, and its `error_type` is kept.
- (ir)relevance (`_evaluate_single_relevance_entry`): decode as Python; "contains a call" means decoded
  and not `is_empty_output`. Irrelevance is correct without a call, so BFCL also credits output that does
  not decode at all (gorilla issue #1362). Beside that BFCL verdict we record `honest_valid`: the output
  is a real abstention — `open_toolace.parse_calls` returns `[]` (an empty list or refusal prose),
  not a `CallParseError`. live_relevance is correct with at least one decodable non-empty call.

The decode step is our model's "handler" (in BFCL every model handler brings its own `decode_ast`):
Python categories use `parse_calls` + `calls_to_bfcl` (ast/json literals only, never `eval`; BFCL's own
prompting decoder `eval`s arithmetic in model output, so we do not run it). Java/JavaScript use BFCL's own
tree-sitter decoders, because their checker wants every value as a Java/JS source string; when those
cannot read the text (e.g. a JSON call) `parse_calls` is tried before giving up.

    from open_toolace.evaluate.scoring import score_bfcl
    score_bfcl('[calc_area(base=10, height=5)]', item)   # -> {"valid": True, "error_type": None, ...}

It scores evaluation only: BFCL items, and any dataset in BFCL's format (`item` can be built from an
example record with `open_toolace.evaluate.dataset.item_from_example`). A round's vote compares answers by
`formats.render.canonical_calls` and checks them with `checks.check_calls`.
"""

from __future__ import annotations

from typing import Any

from open_toolace.evaluate.bfcl import category_of_id, is_irrelevance, is_relevance, language_of

# `ast_checker` needs a model name only to decide whether "." in function names was rewritten to "_"
# (OpenAI-style FC models). Any BFCL prompting model without that rewrite gives the same verdict; this
# one is in bfcl_eval's MODEL_CONFIG_MAPPING ("_" stands for "/" there).
BFCL_MODEL_NAME = "google_gemma-3-1b-it"

MAX_ERROR_CHARS = 400


def _short(error: Any) -> str:
    if isinstance(error, list):
        error = "; ".join(str(e) for e in error[:2])
    text = str(error)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def parse_python(text: str) -> list[dict]:
    """Our Python decode: `parse_calls` -> BFCL's decoded form `[{name: {arg: value}}]`.

    Raises `CallParseError` when the text tries to be a call and cannot be parsed; `[]` means no call."""
    from open_toolace.formats import calls_to_bfcl, parse_calls

    return calls_to_bfcl(parse_calls(text))


def decode_output(text: str, language: str = "python") -> list[dict]:
    """Decode a model output into BFCL's checker input; raises on failure (like a BFCL handler's decode_ast)."""
    if language == "python":
        return parse_python(text)
    from bfcl_eval.constants.enums import ReturnFormat
    from bfcl_eval.model_handler.utils import default_decode_ast_prompting

    try:
        return default_decode_ast_prompting(text, ReturnFormat(language))
    except Exception as bfcl_error:
        # Not Java/JS call syntax; a JSON or pythonic call list whose values are strings still checks.
        try:
            decoded = parse_python(text)
        except Exception:
            raise bfcl_error from None
        if not decoded:
            raise bfcl_error from None
        return decoded


def _ast_checker():
    # bfcl_eval's ast_checker module imports every model handler config (~5 s): import on first use.
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

    return ast_checker


def _score_relevance(text: str, category: str) -> dict[str, Any]:
    from bfcl_eval.utils import is_empty_output

    from open_toolace.formats import CallParseError

    decoded, parse_error = None, None
    try:
        # bfcl_eval decodes (ir)relevance output as Python whatever the model handler.
        decoded = parse_python(text)
        contains_call = not is_empty_output(decoded)
    except CallParseError as e:
        contains_call, parse_error = False, e.reason
    except Exception as e:  # a broken parser must not stop a whole evaluation
        contains_call, parse_error = False, f"parser_exception:{type(e).__name__}"
    out: dict[str, Any] = {"decoded": decoded, "parse_error": parse_error}
    if is_irrelevance(category):
        out["valid"] = not contains_call
        out["error_type"] = None if out["valid"] else "irrelevance_error:decoder_success"
        out["error"] = None if out["valid"] else "Valid syntax. Successfully decode AST when it should not."
        # honest: a real abstention — parse_calls read the output and found no call (empty list or prose)
        out["honest_valid"] = parse_error is None and decoded == []
        out["abstention"] = "unparseable" if parse_error else ("empty" if not contains_call else None)
    else:
        out["valid"] = contains_call
        out["error_type"] = None if contains_call else "relevance_error:decoder_failed"
        out["error"] = (
            None if contains_call else f"Failed to decode a non-empty call ({parse_error or 'no call'})."
        )
    return out


def _score_ast(text: str, item: dict[str, Any], category: str) -> dict[str, Any]:
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.utils import is_function_calling_format_output

    language = language_of(category)
    try:
        decoded = decode_output(text, language)
    except Exception as e:
        reason = getattr(e, "reason", None) or type(e).__name__
        return {
            "valid": False,
            "error_type": "ast_decoder:decoder_failed",
            "decoded": None,
            "parse_error": reason,
            "error": _short(f"Invalid syntax. Failed to decode AST. {e}"),
        }
    if not is_function_calling_format_output(decoded):
        return {
            "valid": False,
            "error_type": "ast_decoder:decoder_wrong_output_format",
            "decoded": str(decoded),
            "parse_error": None,
            "error": "Did not output in the specified format.",
        }
    if item.get("ground_truth") is None:
        raise ValueError(f"{item.get('id')}: category {category!r} needs a ground_truth")
    try:
        result = _ast_checker()(
            item["function"], decoded, item["ground_truth"], Language(language), category, BFCL_MODEL_NAME
        )
    except Exception as e:  # bfcl_eval crashes on some malformed inputs; record it, never stop the run
        return {
            "valid": False,
            "error_type": f"checker_exception:{type(e).__name__}",
            "decoded": decoded,
            "parse_error": None,
            "error": _short(e),
        }
    valid = bool(result["valid"])
    return {
        "valid": valid,
        "error_type": None if valid else result.get("error_type"),
        "decoded": decoded,
        "parse_error": None,
        "error": None if valid else _short(result.get("error")),
    }


def score_bfcl(output_text: str, item: dict[str, Any], category: str | None = None) -> dict[str, Any]:
    """Score one output against one item (see module doc). Returns a dict with keys

    `valid` (bool, BFCL's verdict), `error_type` (BFCL's code, None when valid), `error` (short message),
    `decoded` (the checker input, None when the output did not decode), `parse_error` (why decoding
    failed), and for irrelevance categories `honest_valid` and `abstention` ("empty"/"unparseable"/None).
    """
    cat = category or item.get("category") or category_of_id(item["id"])
    if not isinstance(output_text, str):
        raise TypeError(f"output_text must be str, got {type(output_text).__name__}")
    if is_irrelevance(cat) or is_relevance(cat):
        return _score_relevance(output_text, cat)
    return _score_ast(output_text, item, cat)
