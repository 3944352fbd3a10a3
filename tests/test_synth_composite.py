"""Composite values: "City, ST" / "City, State" / "City, Country" places and comma-separated list strings,
said whole in the query or in part where the parameter description fixes the format."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from open_toolace.data.records import example_user_text
from open_toolace.synth.kinds import COMPOSITE, famous_cities, parse_kind, pools, us_states
from open_toolace.synth.seed import SynthConfig, synthesize
from open_toolace.synth.tree import TreeError, load_tree, parse_param
from open_toolace.synth.values import draw
from open_toolace.synth.verify import verify_example


@pytest.fixture(scope="module")
def sample():
    return synthesize(SynthConfig(n=300, progress=False, contamination=False))


def _strings(args: dict, schema: dict):
    """(value, parameter description) for every string argument (list items included)."""
    props = schema.get("properties") or {}
    for k, v in args.items():
        p = props.get(k) or {}
        if isinstance(v, dict):
            yield from _strings(v, p)
        for x in v if isinstance(v, list) else [v]:
            if isinstance(x, str):
                yield x, p.get("description", "")


def _comma_values(ex: dict):
    tools = {t["name"]: t for t in ex["tools"]}
    for c in ex["calls"] or []:
        for v, desc in _strings(c["arguments"], tools[c["name"]]["parameters"]):
            if "," in v:
                yield c["name"], v, desc


def test_pools_are_consistent_pairs():
    states = us_states()
    assert len(pools()["city_st"]) >= 30 and len(pools()["city_country"]) >= 30
    for v in pools()["city_st"]:
        city, st = v.split(", ")
        assert st in states, v
    assert all(v.count(", ") == 1 for k in COMPOSITE for v in pools()[k])
    # a famous city stands for exactly one place, so "Boston" alone can only mean "Boston, MA"
    cities = Counter(v.split(", ")[0] for k in ("city_st", "city_country") for v in pools()[k])
    for c in famous_cities():
        assert cities[c] == 1, c


def test_composite_draws_say_the_city_and_enough_of_the_region():
    rng = random.Random(0)
    forms = Counter()
    for kind in COMPOSITE:
        for _ in range(300):
            v = draw(parse_kind(kind), rng)
            city, region = v.value.split(", ")
            assert v.text.startswith(city), v
            forms[v.form] += 1
            if v.form == "composite_city":
                assert city in famous_cities()
            elif v.form != "composite_full":
                assert kind != "city_country" and v.text != v.value
    assert forms["composite_full"] and forms["composite_city"] and forms["composite_state"]


def test_csv_kind_is_one_comma_joined_string():
    rng = random.Random(1)
    v = draw(parse_kind("csv:ticker"), rng)
    assert isinstance(v.value, str) and "," in v.value and " " not in v.value
    assert all(t in v.text for t in v.value.split(","))


def test_composite_parameters_state_their_format():
    with pytest.raises(TreeError, match="format"):
        parse_param("location", "city_st | in {v} | City.", "x")
    n = 0
    for d in load_tree():
        for api in d.apis:
            for p in api.params:
                base = p.kind.item or p.kind
                if base.name in COMPOSITE:
                    n += 1
                    assert "e.g. '" in p.description, (api.name, p.name)
    assert n >= 30


def test_seed_sample_has_comma_values_said_whole_and_in_part(sample):
    found = [(ex, name, v, desc) for ex in sample for name, v, desc in _comma_values(ex)]
    assert len(found) >= 20
    whole = partial = 0
    for ex, _name, v, desc in found:
        q = example_user_text(ex)
        assert verify_example(ex) == [], (q, ex["calls"])
        if v in q:
            whole += 1
            continue
        partial += 1  # said in part: the description fixes the format and the query names the city
        assert "e.g. '" in desc, (v, desc)
        if ", " in v:
            city, region = v.split(", ")
            assert city in q, (q, v)
            spelled = {region, us_states().get(region, region)} | {
                k for k, s in us_states().items() if s == region
            }
            assert city in famous_cities() or any(f"{city}, {r}" in q for r in spelled), (q, v)
        else:
            assert "comma" in desc.lower() and all(t in q for t in v.split(",")), (q, v)
    assert whole >= 5 and partial >= 5, (whole, partial)


def test_verifier_rejects_a_region_the_query_does_not_give(sample):
    ex = next(e for e in sample for _n, v, _d in _comma_values(e) if ", " in v and v in example_user_text(e))
    name, v, _ = next(_comma_values(ex))
    city = v.split(", ")[0]
    bad = {**ex, "calls": [dict(c) for c in ex["calls"]]}
    for c in bad["calls"]:
        for k, x in c["arguments"].items():
            if x == v:
                c["arguments"] = {**c["arguments"], k: f"{city}, Atlantis"}
            elif isinstance(x, list) and v in x:
                c["arguments"] = {**c["arguments"], k: [f"{city}, Atlantis" if y == v else y for y in x]}
    assert bad["calls"] != ex["calls"]  # the value was replaced: the check below is not vacuous
    codes = {r.code for r in verify_example(bad)}
    assert codes and codes <= {"underivable_value", "enum_mismatch"}, codes
