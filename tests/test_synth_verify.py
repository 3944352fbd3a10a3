"""Synthesis building blocks: value phrasings read back, evolution operators, the verifier, the BFCL index."""

from __future__ import annotations

import copy
import datetime as dt
import random

import pytest

from open_toolace.checks import check_tools
from open_toolace.synth.apis import OPERATORS, api_from_spec, evolve
from open_toolace.synth.contamination import ContaminationIndex, bfcl_user_turns, jaccard, word_set
from open_toolace.synth.kinds import parse_kind
from open_toolace.synth.queries import make_clause
from open_toolace.synth.seed import HELD_OUT, SynthConfig, synthesize
from open_toolace.synth.tree import TreeError, load_tree, parse_param, parse_tree, split_domains
from open_toolace.synth.values import draw, draw_date, draw_time
from open_toolace.synth.verify import query_dates, query_numbers, query_times, verify_example


def test_every_date_phrasing_reads_back_as_iso():
    rng = random.Random(0)
    forms = set()
    for _ in range(600):
        d = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(1095))
        v = draw_date(rng, d)
        forms.add(v.form)
        assert v.value == d.isoformat()
        assert d.isoformat() in query_dates(f"Book it for {v.text}, thanks."), v.text
    assert len(forms) == 8


def test_times_numbers_read_back():
    rng = random.Random(1)
    for _ in range(300):
        v = draw_time(rng)
        assert v.value in query_times(f"at {v.text}."), v.text
    assert query_numbers("under $1,250.50 for three nights and 2 kg") >= {1250.5, 3.0, 2.0}
    for kind in ("money", "money:100000:900000", "count:night", "km", "kg", "percent", "minutes", "rating"):
        k = parse_kind(kind)
        for _ in range(100):
            v = draw(k, rng)
            assert float(v.value) in query_numbers(v.text), (kind, v.text)


def _sample(kind: str = "single") -> dict:
    for ex in synthesize(SynthConfig(n=300, progress=False, contamination=False)):
        if ex["meta"]["type"] == kind:
            return ex
    raise AssertionError(kind)


def _first_leaf(args: dict) -> tuple[dict, str]:
    for k, v in args.items():
        if isinstance(v, dict):
            return _first_leaf(v)
        return args, k
    raise AssertionError("no arguments")


def test_verifier_rejects_broken_samples():
    ex = _sample()
    assert verify_example(ex) == []
    # a date one day off: the year still appears (checks.py's lenient grounding passes it), derivation does not
    dated = next(e for e in synthesize(SynthConfig(n=400, progress=False, contamination=False))
                 if e["meta"]["type"] == "single" and "date_" in " ".join(e["meta"]["forms"]))  # fmt: skip
    bad = copy.deepcopy(dated)
    for c in bad["calls"]:
        for container in [c["arguments"], *[v for v in c["arguments"].values() if isinstance(v, dict)]]:
            for k, v in container.items():
                if isinstance(v, str) and len(v) == 10 and v[4] == "-":
                    container[k] = (dt.date.fromisoformat(v) + dt.timedelta(days=1)).isoformat()
    assert {r.code for r in verify_example(bad)} == {"underivable_value"}  # one per shifted date
    # a string value the user never said
    bad = copy.deepcopy(ex)
    args, key = _first_leaf(bad["calls"][0]["arguments"])
    args[key] = "Zanzibar Quokka" if isinstance(args[key], str) else 987654
    assert verify_example(bad)
    # unknown function, missing required argument, wrong type
    bad = copy.deepcopy(ex)
    bad["calls"][0]["name"] = "no_such_tool"
    assert verify_example(bad)[0].code == "unknown_function"
    bad = copy.deepcopy(ex)
    req = bad["tools"][[t["name"] for t in bad["tools"]].index(bad["calls"][0]["name"])]["parameters"][
        "required"
    ]
    bad["calls"][0]["arguments"].pop(req[0])
    assert "missing_required" in {r.code for r in verify_example(bad)}
    bad = copy.deepcopy(ex)
    bad["calls"][0]["arguments"][req[0]] = {"nested": True}
    assert {r.code for r in verify_example(bad)} & {"type_mismatch", "schema_violation"}
    bad = copy.deepcopy(ex)
    bad["messages"] = []
    assert verify_example(bad)[0].code == "invalid_record"


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_each_operator_gives_valid_tools_and_checkable_calls(op):
    seed_domains, _ = split_domains(load_tree(), HELD_OUT)
    rng = random.Random(op)
    applied = 0
    for spec in [a for d in seed_domains for a in d.apis][::3]:
        api = evolve(api_from_spec(spec), rng, 1, (op,))
        if not api.ops:
            continue
        applied += 1
        tool = api.tool()
        assert check_tools([tool]) == [], (op, tool)
        clause = make_clause(api, rng, 0.8)
        ex = {"id": "x", "messages": [{"role": "user", "content": clause.text}], "tools": [tool],
              "calls": clause.calls(), "meta": {"source": "test"}}  # fmt: skip
        assert verify_example(ex) == [], (op, clause.text, clause.calls())
    assert applied >= 10, op


def test_tree_errors_name_the_place():
    with pytest.raises(TreeError, match="D / F / api / city"):
        parse_param("city", "nokind | in {v}", "D / F / api / city")
    with pytest.raises(TreeError, match=r"\{v\}"):
        parse_param("city", "city | in the town", "x")
    with pytest.raises(TreeError, match="default"):
        parse_param("unit", "enum:km,miles=km | in {v}", "x")
    with pytest.raises(TreeError, match="needs d"):
        parse_tree({"D": {"F": {"api": {"d": "x", "i": ["do"]}}}})
    with pytest.raises(TreeError, match="not in the tree"):
        split_domains(load_tree(), ["Atlantis"])


def test_contamination_index_is_exact():
    """Prefix filtering must find every pair that brute force finds (and the same best score)."""
    turns = bfcl_user_turns()
    rng = random.Random(0)
    index = ContaminationIndex(turns, 0.7)
    probes = [
        e["messages"][-1]["content"]
        for e in synthesize(SynthConfig(n=60, progress=False, contamination=False))
    ]
    for t in rng.sample(turns, 80):  # near-copies of BFCL turns: a word dropped, a word added
        words = t.split()
        probes.append(" ".join(words[:-1]) if len(words) > 3 else t)
        probes.append(t + " please")
    sets = [word_set(t) for t in turns]
    for p in probes:
        s = word_set(p)
        brute = max(jaccard(s, o) for o in sets)
        got, _ = index.best(p)
        assert (got >= 0.7) == (brute >= 0.7), p
        if brute >= 0.7:
            assert got == pytest.approx(brute)
