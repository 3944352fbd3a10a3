"""Calculators and fact look-ups (synth/tree_compute.yaml): loaded with tree.yaml, split into seed and held-out
domains, never a BFCL function doc, numbers said in words and read back, valid and verified samples."""

from __future__ import annotations

import random
import re
from importlib import resources

import pytest
import yaml
from jsonschema import Draft202012Validator

from open_toolace.evaluate import load_bfcl, resolve_categories
from open_toolace.synth.apis import api_from_spec, build_pool, variant_name
from open_toolace.synth.contamination import bfcl_index
from open_toolace.synth.kinds import kind_schema, parse_kind
from open_toolace.synth.seed import HELD_OUT, SynthConfig, synthesize_offline
from open_toolace.synth.tree import TreeError, load_tree, parse_tree, split_domains
from open_toolace.synth.unlabeled import synthesize_queries
from open_toolace.synth.values import draw
from open_toolace.synth.verify import query_numbers, verify_example


def _compute_tree() -> list:
    text = resources.files("open_toolace.synth").joinpath("tree_compute.yaml").read_text(encoding="utf-8")
    return parse_tree(yaml.safe_load(text))


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@pytest.fixture(scope="module")
def compute_names() -> set[str]:
    return {d.name for d in _compute_tree()}


@pytest.fixture(scope="module")
def result():
    return synthesize_offline(SynthConfig(n=1200, seed=0, progress=False))


def test_both_files_load_as_one_tree(compute_names):
    domains = load_tree()
    compute = [d for d in domains if d.name in compute_names]
    assert len(compute_names) >= 15 and len(compute) == len(compute_names)
    assert {d.kind for d in compute} == {"calculator", "lookup"}
    assert all(d.kind == "service" for d in domains if d.name not in compute_names)
    apis = [a.name for d in domains for a in d.apis]
    assert len(apis) == len(set(apis))  # API names unique across the two files
    assert sum(len(d.apis) for d in compute) >= 100


def test_split_keeps_computations_on_both_sides(compute_names):
    seed, held = split_domains(load_tree(), HELD_OUT)
    assert len([d for d in seed if d.name in compute_names]) >= 10
    assert len([d for d in held if d.name in compute_names]) >= 3
    assert len([d for d in held if d.name not in compute_names]) >= 5


def test_no_bfcl_function_doc_is_reused(compute_names):
    """No tool of the pool (any variant, any evolution) has a BFCL function's name with the same parameter
    names; and no computational API is even named like one (case, '.' and '_' ignored)."""
    items = load_bfcl(resolve_categories("all"))
    docs = {(f["name"], frozenset((f.get("parameters") or {}).get("properties") or {}))
            for it in items for f in it["function"]}  # fmt: skip
    assert len(docs) > 1500
    domains = load_tree()
    tools = [a.tool() for s in range(4) for a in build_pool(domains, random.Random(s), variants=3)]
    for d in domains:  # the un-evolved form of every name style, which a 0-operator variant keeps
        for spec in d.apis:
            for style in ("snake", "camel", "dotted"):
                tools.append(api_from_spec(spec, variant_name(spec, style)).tool())
    for t in tools:
        assert (t["name"], frozenset(t["parameters"]["properties"])) not in docs, t
    bfcl_names = {_norm(name) for name, _ in docs}
    for d in domains:
        if d.name in compute_names:
            for spec in d.apis:
                for style in ("snake", "camel", "dotted"):
                    assert _norm(variant_name(spec, style)) not in bfcl_names, (d.name, spec.name, style)


def test_parameter_types_in_the_tree(compute_names):
    """Floats, whole numbers, rates, number lists, tuples, objects and dotted names are all designed in."""
    specs = [a for d in load_tree() if d.name in compute_names for a in d.apis]
    kinds = [p.kind for a in specs for p in a.params]
    assert sum(kind_schema(k).get("type") == "number" for k in kinds) >= 80
    assert sum(k.name == "numbers" for k in kinds) >= 15  # list[float] / list[int]
    assert {kind_schema(k)["items"]["type"] for k in kinds if k.name == "numbers"} == {"number", "integer"}
    assert sum(k.name == "point" for k in kinds) >= 8  # tuple-like: minItems == maxItems
    assert sum(k.name == "rate" for k in kinds) >= 10 and sum(k.name == "whole" for k in kinds) >= 30
    assert sum(len(a.groups) for a in specs) >= 6  # designed object parameters
    assert sum("." in a.name for a in specs) >= 40  # geometry.circle_area, finance.loan_payment, ...


@pytest.mark.parametrize("text", ["whole:0:20", "whole:0:5000", "rate:0.5:12:2", "num:-40:250:3", "numbers:1:100:1",
                                  "numbers:-9:9:0:2:5", "point:-20:20:1", "point:-10:10:1:3"])  # fmt: skip
def test_numeric_kinds_read_back_and_fit_their_schema(text):
    kind, rng = parse_kind(text), random.Random(text)
    schema = kind_schema(kind)
    validator = Draft202012Validator(schema)
    forms = set()
    for _ in range(300):
        v = draw(kind, rng, schema)
        forms.add(v.form)
        assert not list(validator.iter_errors(v.value)), (text, v)
        stated = query_numbers(f"Please use {v.text} for it.")
        for x in v.value if isinstance(v.value, list) else [v.value]:
            assert float(x) in stated, (text, v.text, x)
    expected = {"whole": {"whole_words", "whole_digits"}, "rate": {"rate_percent", "rate_fraction"},
                "numbers": {"numbers", "numbers_brackets"}, "point": {"point_tuple", "point_axes"}}  # fmt: skip
    assert expected.get(kind.name, set()) <= forms or kind.args[1] == "5000"  # words only up to twelve


def test_rates_are_fractions_read_from_percents():
    assert {0.05, 0.0425, 0.125} <= query_numbers("at 5% a year, 4.25 percent, or 12.5 per cent")
    assert 0.05 not in query_numbers("about 5 things")  # only a stated percent gives a fraction


def test_compute_samples_pass_verification_and_cover_the_types(result, compute_names):
    ex = [e for e in result.examples if e["meta"]["domain"] in compute_names]
    assert len(ex) >= 200 and len({e["meta"]["domain"] for e in ex}) >= 10
    assert set(HELD_OUT).isdisjoint(e["meta"]["domain"] for e in result.examples)
    seen = set()
    for e in ex:
        assert verify_example(e) == [], e
        for c in e["calls"]:
            seen.add("dotted" if "." in c["name"] else "plain")
            for v in c["arguments"].values():
                if isinstance(v, float) and not v.is_integer():
                    seen.add("float")
                elif isinstance(v, dict):
                    seen.add("object")
                elif isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v):
                    seen.add("number list")
                elif isinstance(v, float) and 0 < v < 1:
                    seen.add("rate")
    assert {"dotted", "plain", "float", "object", "number list"} <= seen
    assert not [r for r in result.rejects if r["reason"] != "bfcl_contamination"]


def test_unlabeled_queries_include_held_out_computations(compute_names):
    qs = synthesize_queries(SynthConfig(n=400, progress=False))
    domains = {q["meta"]["domain"] for q in qs}
    assert domains & compute_names and domains - compute_names
    index = bfcl_index(0.7)
    for q in qs:
        assert index.best(q["messages"][0]["content"])[0] < 0.7


def test_object_parameters_nest_in_tools_and_calls(result):
    api = next(a for d in load_tree() for a in d.apis if a.name == "finance.loan_payment")
    tool = api_from_spec(api).tool()
    loan = tool["parameters"]["properties"]["loan"]
    assert loan["type"] == "object" and set(loan["required"]) == {"principal", "annual_rate", "term_years"}
    assert tool["parameters"]["required"] == ["loan"]
    from open_toolace.synth.queries import make_clause

    # the API's own requests (a seeded set may or may not draw this API): every call nests all three
    calls = [c for i in range(10) for c in make_clause(api_from_spec(api), random.Random(i)).calls()]
    assert calls and all(
        set(c["arguments"]["loan"]) == {"principal", "annual_rate", "term_years"} for c in calls
    )


def test_tree_object_parameter_errors():
    good = {"d": "x", "i": ["do"]}
    with pytest.raises(TreeError, match="object parameter"):
        parse_tree({"D": {"F": {"api": {**good, "p": {"box": {"p": {"w": "num | {v}"}}}}}}})
    with pytest.raises(TreeError, match="one level"):
        parse_tree({"D": {"F": {"api": {**good, "p": {"box": {"d": "x", "p": {"w": {"d": "y", "p": {}}}}}}}}})
    with pytest.raises(TreeError, match="unique"):
        parse_tree(
            {
                "D": {
                    "F": {
                        "api": {**good, "p": {"w": "num | {v}", "box": {"d": "x", "p": {"w": "num | {v}"}}}}
                    }
                }
            }
        )
    with pytest.raises(TreeError, match="kind"):
        parse_tree({"D": {"kind": "oracle", "F": {"api": {**good, "p": {"w": "num | {v}"}}}}})
    with pytest.raises(TreeError, match="bad API name"):
        parse_tree({"D": {"F": {"a.b.c": {**good, "p": {"w": "num | {v}"}}}}})


def test_verifier_still_rejects_a_wrong_number(result):
    """The percent reading adds fractions of stated percents only: a rate, float or list item that the
    query does not state is still `underivable_value`."""
    import copy

    def first_number(args: dict) -> tuple[dict | list, str | int] | None:
        for k, v in args.items():
            if isinstance(v, float) and not v.is_integer():
                return args, k
            if isinstance(v, list) and v and isinstance(v[0], (int, float)) and not isinstance(v[0], bool):
                return v, 0
            if isinstance(v, dict) and (hit := first_number(v)):
                return hit
        return None

    checked = 0
    for e in result.examples:
        if e["meta"]["type"] != "single" or not e["calls"]:
            continue
        hit = first_number(e["calls"][0]["arguments"])
        if hit is None:
            continue
        bad = copy.deepcopy(e)
        container, key = first_number(bad["calls"][0]["arguments"])
        x = container[key]  # type: ignore[index]
        container[key] = x * 10 + (1 if isinstance(x, int) else 0.123)  # type: ignore[index]
        assert [r.code for r in verify_example(bad)] == ["underivable_value"], bad
        checked += 1
    assert checked >= 10
