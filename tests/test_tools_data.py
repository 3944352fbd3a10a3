"""Tool converters on real data: every tool definition in ../shared/data, all of BFCL's function docs, and a
property test that random BFCL docs survive the round trip. Run with -s to see the counts by reason."""

from __future__ import annotations

import importlib.resources
import json
import re
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from open_toolace.checks import reason_counts, validate_tool
from open_toolace.formats.schema import strip_extensions
from open_toolace.formats.tools import (
    Tool,
    ToolFormatError,
    parse_tool,
    parse_tools,
    tool_to_bfcl,
    tool_to_openai,
)

# ---------------------------------------------------------------- BFCL's own function docs


def _bfcl_function_docs() -> list[dict]:
    base = importlib.resources.files("bfcl_eval") / "data"
    docs = []
    for entry in sorted(base.iterdir(), key=lambda p: p.name):
        if not entry.name.startswith("BFCL_v4_") or not entry.name.endswith(".json"):
            continue
        for line in entry.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue  # format_sensitivity.json is one pretty-printed object, not JSONL
            docs.extend(item.get("function") or [])
    return docs


def test_all_bfcl_function_docs_convert_validate_and_round_trip():
    docs = _bfcl_function_docs()
    assert len(docs) > 5000
    reasons = []
    for doc in docs:
        tool = parse_tool(doc)
        assert tool_to_bfcl(tool) == doc, doc["name"]
        reasons.extend(validate_tool(tool))
    counts = reason_counts(reasons)
    print(f"\nBFCL function docs: {len(docs)}; validation reasons: {counts}")
    # BFCL's data are used as-is by the benchmark: no schema errors, no names a model could not call.
    assert not {"invalid_schema", "bad_name", "empty_description"} & set(counts)
    assert sum(counts.values()) <= 5


# ---------------------------------------------------------------- every tool definition in ../shared/data


def _shared_tool_definitions(d: Path) -> dict[str, list]:
    """Every tool definition in ../shared/data, as the raw object/string each file holds."""
    out: dict[str, list] = {}
    pat = re.compile(r"^\d+\. Name: (.*)\nDescription: (.*)\nParameters: (.*)$", re.M)
    rl = json.loads((d / "toolrl_rlla_sft.json").read_text())
    out["toolrl"] = [
        {"name": n, "description": desc, "parameters": p}
        for r in rl
        for n, desc, p in pat.findall(r["instruction"])
    ]
    marker = "Here is a list of functions in JSON format that you can invoke:\n"
    ace, ace_tools = json.loads((d / "toolace_sample_sharegpt.json").read_text()), []
    for r in ace:
        assert parse_tools(r["tools"]) == []  # this export keeps the tools in the system prompt
        system = r["system"]
        ace_tools.extend(json.JSONDecoder().raw_decode(system[system.index(marker) + len(marker) :])[0])
    out["toolace"] = ace_tools
    glaive = json.loads((d / "glaive_toolcall_en_demo.json").read_text())
    out["glaive"] = [t for r in glaive for t in json.loads(r["tools"] or "[]")]
    bank, bank_tools = json.loads((d / "apibank_lv3_train.json").read_text()), []
    for r in bank:
        for line in r["input"].split("\n"):
            if line.startswith("{"):
                bank_tools.append(line)  # the ToolSearcher doc, JSON
            elif "ToolSearcher(" in line and "]->" in line:
                bank_tools.append(line.split("]->", 1)[1])  # a found tool's doc, printed with repr
    out["apibank"] = bank_tools
    out["sealtools"] = [
        line for line in (d / "sealtools_tools.jsonl").read_text().splitlines() if line.strip()
    ]
    return out


def test_every_shared_tool_definition_converts_or_fails_clearly(shared_data):
    defs = _shared_tool_definitions(shared_data)
    counts = {k: len(v) for k, v in defs.items()}
    print(f"\ntool definitions per file: {counts}")
    assert counts == {"toolrl": 1215, "toolace": 446, "glaive": 219, "apibank": 2405, "sealtools": 4076}
    for source, items in defs.items():
        ok, errors, reasons = 0, Counter(), []
        for raw in items:
            try:
                tool = parse_tool(raw)
            except ToolFormatError as e:
                msg = str(e)
                assert len(msg) > 20 and ("found" in msg or "neither JSON" in msg), msg
                errors[re.sub(r"'[^']*'", "'…'", msg)[:90]] += 1
                continue
            ok += 1
            assert tool.parameters["type"] == "object" and isinstance(tool.parameters["properties"], dict)
            assert Tool.from_dict(json.loads(json.dumps(tool.to_dict()))) == tool
            assert parse_tool(tool_to_openai(tool)).parameters == strip_extensions(tool.parameters)
            reasons.extend(validate_tool(tool))
        print(f"{source}: {ok} converted, {sum(errors.values())} format errors {dict(errors)}")
        print(f"{source}: validation reasons {reason_counts(reasons)}")
        assert ok >= 0.9 * len(items), source
        assert "invalid_schema" not in reason_counts(reasons), source


# ---------------------------------------------------------------- property: BFCL docs survive the round trip

_names = st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True)
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


def _bfcl_schema(depth: int = 2):
    leaf = st.one_of(
        st.fixed_dictionaries({"type": st.sampled_from(["integer", "float", "boolean", "any"])}),
        st.fixed_dictionaries(
            {"type": st.just("string")},
            optional={"enum": st.lists(_text, min_size=1, max_size=3, unique=True)},
        ),
    )
    if depth == 0:
        return leaf
    sub = _bfcl_schema(depth - 1)
    return st.one_of(
        leaf,
        st.fixed_dictionaries({"type": st.sampled_from(["array", "tuple"]), "items": sub}),
        st.dictionaries(_names, sub, max_size=3).flatmap(
            lambda props: st.fixed_dictionaries(
                {
                    "type": st.just("dict"),
                    "properties": st.just(props),
                    "required": st.lists(st.sampled_from(sorted(props)), unique=True)
                    if props
                    else st.just([]),
                }
            )
        ),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8})?", fullmatch=True),
    props=st.dictionaries(_names, _bfcl_schema(), max_size=4),
    description=_text.filter(str.strip),
)
def test_random_bfcl_docs_round_trip_and_validate(name, props, description):
    doc = {
        "name": name,
        "description": description,
        "parameters": {"type": "dict", "properties": props, "required": sorted(props)[:1]},
    }
    tool = parse_tool(json.loads(json.dumps(doc)))
    assert tool_to_bfcl(tool) == doc
    assert validate_tool(tool) == []
    assert parse_tool(tool_to_openai(tool, keep_extensions=True)) == tool  # normalising is idempotent
    assert not {"dict", "float", "tuple", "any"} & set(
        _type_values(tool_to_openai(tool)["function"]["parameters"])
    )


def _type_values(schema):
    if isinstance(schema, dict):
        for k, v in schema.items():
            if k == "type" and isinstance(v, str):
                yield v
            elif k == "properties" and isinstance(v, dict):
                for sub in v.values():
                    yield from _type_values(sub)
            else:
                yield from _type_values(v)
