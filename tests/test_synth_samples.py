"""Seed samples a person would type, and abstentions that teach the hard cases (near misses, missing values)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from open_toolace.data.records import example_user_text
from open_toolace.synth.samples import ABSTENTION_KINDS
from open_toolace.synth.seed import SynthConfig, synthesize_offline


@pytest.fixture(scope="module")
def synth():
    return synthesize_offline(SynthConfig(n=2000, progress=False, seed=3))


def _pool_by_name(synth) -> dict[str, dict]:
    return {p["tool"]["name"]: p for p in synth.pool}


def test_no_call_examples_say_their_kind_and_most_are_near_misses(synth):
    no_call = [ex for ex in synth.examples if ex["calls"] == []]
    kinds = Counter(ex["meta"].get("abstention") for ex in no_call)
    assert set(kinds) <= set(ABSTENTION_KINDS) and len(no_call) >= 100
    assert kinds["near_miss"] + kinds["missing_value"] >= len(no_call) / 2
    assert min(kinds.values()) >= 10  # every kind is made


def test_near_miss_tools_are_of_the_requests_domain_and_cannot_serve_it(synth):
    pool = _pool_by_name(synth)
    for ex in synth.examples:
        m = ex["meta"]
        if m.get("abstention") != "near_miss":
            continue
        rows = [pool[t["name"]] for t in ex["tools"]]
        assert ex["tools"] and {r["domain"] for r in rows} == {m["domain"]}, ex["id"]
        # none of the offered tools is (a variant of) the API the request was made for
        asked = pool[m["asked"]].get("base", m["asked"])
        assert all(r.get("base", r["tool"]["name"]) != asked for r in rows), ex["id"]


def _required(schemas: list[dict]) -> set[str]:
    """Required parameter names at any depth (a nested object's members too)."""
    out: set[str] = set()
    for sch in schemas:
        sch = sch.get("parameters", sch)
        out.update(sch.get("required") or [])
        out |= _required([p for p in (sch.get("properties") or {}).values() if isinstance(p, dict)])
    return out


def test_missing_value_requests_lack_a_required_argument_of_the_offered_tool(synth):
    seen = 0
    for ex in synth.examples:
        m = ex["meta"]
        if m.get("abstention") != "missing_value":
            continue
        seen += 1
        assert m["missing"] in _required(ex["tools"]), ex["id"]
    assert seen


def test_queries_read_like_a_person_typed_them(synth):
    queries = [example_user_text(ex) for ex in synth.examples]
    assert len(queries) == 2000
    doubled = re.compile(r"\b(the|a|an|to|of|for|in|on|and|with|at|by|from)\s+\1\b", re.I)
    # two codes of different kinds side by side ("on GRC-46386 SAVE-70371"); a list of one kind is fine
    id_run = re.compile(r"\b([A-Z]{2,4})-\d{3,}[\s,]+(?!\1-)[A-Z]{2,4}-\d{3,}")
    bad = {
        "doubled function word": [q for q in queries if doubled.search(q)],
        "unfilled placeholder": [q for q in queries if re.search(r"\{[a-z_]*\}", q)],
        "run of ids": [q for q in queries if id_run.search(q)],
        "empty or lower-case start": [q for q in queries if not q or not (q[0].isupper() or q[0].isdigit())],
    }
    assert {k: v[:3] for k, v in bad.items() if v} == {}
