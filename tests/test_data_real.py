"""Every record of every file in ../shared/data is read, accounted for, converted and rule-checked.

Expected counts are computed independently from the raw files (e.g. number of `function_call` turns) and
compared with what the adapters produced; the README's record counts are asserted exactly. Rule-check
reasons are printed (run with -s): real data is not perfect, so they are counted, not asserted away.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from open_toolace.data import convert, detect_format, from_hf_row, read_examples, stats, to_hf_dataset
from open_toolace.data.records import validate_example
from open_toolace.data.sealtools import read_sealtools_tools
from open_toolace.data.sources import iter_records
from open_toolace.formats import ToolCall

# file -> (format detected, records in the file per its README)
FILES = {
    "toolrl_rlla_sft.json": ("toolrl", 400),
    "toolace_sample_sharegpt.json": ("toolace_sharegpt", 100),
    "glaive_toolcall_en_demo.json": ("glaive_sharegpt", 300),
    "apibank_lv3_train.json": ("apibank", 1245),
    "sealtools_dev.jsonl": ("sealtools", 700),
}
CHECK_CODES = {
    "unknown_function", "missing_required", "unknown_parameter", "type_mismatch", "enum_mismatch",
    "schema_violation", "ungrounded_value", "duplicate_call", "invalid_record", "bad_arguments",
}  # fmt: skip


@pytest.fixture(scope="module")
def converted(shared_data):
    """file -> (examples, rejects), read once for the module."""
    return {name: read_examples(shared_data / name) for name in FILES}


def _raw(shared_data, name):
    return [rec for _, _, rec in iter_records(shared_data / name)]


@pytest.mark.parametrize("name", list(FILES))
def test_every_record_is_read_and_accounted_for(shared_data, converted, name):
    fmt, n_records = FILES[name]
    assert detect_format(shared_data / name) == fmt
    record_lines = [item[0] for item in iter_records(shared_data / name)]
    assert len(record_lines) == n_records
    examples, rejects = converted[name]
    for ex in examples:
        assert validate_example(ex) == [], ex["id"]
        assert ex["meta"]["source"] == fmt
    # each source record produced at least one example or a reject naming its line: nothing silent
    produced = {ex["meta"]["line"] for ex in examples} | {r["line"] for r in rejects}
    assert produced == set(record_lines)
    assert len({ex["id"] for ex in examples}) == len(examples), "ids are unique"


def test_toolrl_one_example_per_record(shared_data, converted):
    raw = _raw(shared_data, "toolrl_rlla_sft.json")
    examples, rejects = converted["toolrl_rlla_sft.json"]
    assert rejects == [] and len(examples) == 400
    n_call_outputs = sum("<tool_call>" in r["output"] for r in raw)
    assert Counter(bool(ex["calls"]) for ex in examples)[True] == n_call_outputs == 346
    first = examples[0]
    assert first["calls"] == [{"name": "Search Managers", "arguments": {"name": "Alex Ferguson"}}]
    assert [t["name"] for t in first["tools"]][:2] == ["Search Managers", "Daily Match List-Scheduled"]
    assert first["messages"] == [
        {"role": "user", "content": "Could you help me find information on the manager Alex Ferguson?"}
    ]
    assert "reasoning" in first["meta"]
    # multi-turn histories keep earlier calls and tool results in order
    multi = [ex for ex in examples if any(m["role"] == "tool" for m in ex["messages"])]
    assert multi and all(ex["messages"][0]["role"] == "user" for ex in multi)


def test_sharegpt_turn_accounting(shared_data, converted):
    for name in ("toolace_sample_sharegpt.json", "glaive_toolcall_en_demo.json"):
        raw = _raw(shared_data, name)
        examples, rejects = converted[name]
        fc_turns = sum(
            t["from"] == "function_call" and json.loads(t["value"]) != []
            for r in raw
            for t in r["conversations"]
        )
        empty_fc = sum(
            t["from"] == "function_call" and json.loads(t["value"]) == []
            for r in raw
            for t in r["conversations"]
        )
        kinds = Counter(ex["meta"]["kind"] for ex in examples)
        assert kinds["call"] == fc_turns
        assert Counter(r["reason"] for r in rejects)["empty_function_call"] == empty_fc
        # a gpt turn right after a human turn, with tools offered, is a "no call" decision
        for ex in examples:
            assert ex["messages"][-1]["role"] in ("user", "tool")
            if ex["meta"]["kind"] == "no_call":
                assert ex["calls"] == [] and ex["messages"][-1]["role"] == "user" and ex["meta"]["answer"]
        assert "post_tool_answer" not in kinds  # not selected by the default turns="decisions"
    glaive_ex, glaive_rej = converted["glaive_toolcall_en_demo.json"]
    no_tools = sum(
        json.loads(r["tools"] or "[]") == [] for r in _raw(shared_data, "glaive_toolcall_en_demo.json")
    )
    assert Counter(r["reason"] for r in glaive_rej) == {"no_tools": no_tools}
    # record 0: human, gpt (no call), human, function_call, observation, gpt (post-tool), human, gpt (no call)
    rec0 = [ex for ex in glaive_ex if ex["meta"]["index"] == 0]
    assert [(ex["meta"]["turn"], ex["meta"]["kind"]) for ex in rec0] == [
        (1, "no_call"),
        (3, "call"),
        (7, "no_call"),
    ]
    assert rec0[1]["calls"] == [
        {"name": "search_recipes", "arguments": {"ingredients": ["chicken", "bell peppers", "rice"]}}
    ]
    assert [m["role"] for m in rec0[2]["messages"]] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert (
        rec0[2]["messages"][3]["content"]
        == '[search_recipes(ingredients=["chicken", "bell peppers", "rice"])]'
    )


def test_toolace_tools_from_system_prompt_and_name_repair(converted):
    examples, _ = converted["toolace_sample_sharegpt.json"]
    first_call = next(ex for ex in examples if ex["meta"]["kind"] == "call")
    assert first_call["meta"]["tools_from"] == "system"
    assert not any(
        m["role"] == "system" for m in first_call["messages"]
    )  # the tool listing is not kept as text
    # the export truncated "Market Trends API" to "API": repaired because only that tool fits the arguments
    assert first_call["calls"][0]["name"] == "Market Trends API"
    assert first_call["meta"]["repaired_names"] == {"API": "Market Trends API"}
    repaired = sum("repaired_names" in ex["meta"] for ex in examples)
    names_ok = sum(
        all(c["name"] in {t["name"] for t in ex["tools"]} for c in ex["calls"])
        for ex in examples
        if ex["calls"]
    )
    n_calls = sum(bool(ex["calls"]) for ex in examples)
    print(
        f"\ntoolace: {repaired} examples with repaired names; {names_ok}/{n_calls} call examples name offered tools"
    )
    assert names_ok >= 0.95 * n_calls


def test_apibank_calls_and_responses(shared_data, converted):
    raw = _raw(shared_data, "apibank_lv3_train.json")
    examples, rejects = converted["apibank_lv3_train.json"]
    n_requests = sum(r["output"].startswith("API-Request:") for r in raw)
    assert (n_requests, len(raw) - n_requests) == (907, 338)
    kinds = Counter(ex["meta"]["kind"] for ex in examples)
    request_rejects = [r for r in rejects if r["record"]["output"].startswith("API-Request:")]
    assert kinds["call"] + len(request_rejects) == 907
    assert kinds["no_call"] + kinds["post_tool_answer"] == 338  # every plain response is a no-call example
    assert len(rejects) <= 2, Counter(r["reason"] for r in rejects)
    first = examples[0]
    assert first["calls"] == [
        {
            "name": "ToolSearcher",
            "arguments": {"keywords": "healthcare provider appointment availability checker"},
        }
    ]
    # tools discovered by ToolSearcher earlier in the dialogue are offered
    second = examples[1]
    assert second["calls"][0]["name"] == "HealthcareProviderAppointmentChecker"
    assert {"ToolSearcher", "HealthcareProviderAppointmentChecker"} <= {t["name"] for t in second["tools"]}
    # unquoted values (API-Bank's own dialect) are read as strings, and marked
    lenient = [ex for ex in examples if ex["meta"].get("lenient_parse")]
    assert lenient and all(isinstance(ex["calls"][0]["arguments"], dict) for ex in lenient)


def test_sealtools_queries_and_tool_file(shared_data, converted):
    tools, rejects = read_sealtools_tools(shared_data / "sealtools_tools.jsonl")
    assert (len(tools), rejects) == (4076, [])
    examples, rej = converted["sealtools_dev.jsonl"]
    assert rej == [] and len(examples) == 700
    raw = _raw(shared_data, "sealtools_dev.jsonl")
    assert sum(len(ex["calls"]) for ex in examples) == sum(len(r["calling"]) for r in raw)
    ex0 = examples[0]
    assert ex0["calls"] == [
        {"name": "getHealthWorkforce", "arguments": {"location": "country", "occupation": "nurses"}}
    ]
    assert [t["name"] for t in ex0["tools"]] == ["getHealthWorkforce"]
    assert any(ex["meta"].get("uses_outputs") for ex in examples)  # nested "API_call_1" references


def test_sealtools_distractors_are_seeded_and_shuffled(shared_data):
    a, _ = read_examples(shared_data / "sealtools_dev.jsonl", distractors=3)
    b, _ = read_examples(shared_data / "sealtools_dev.jsonl", distractors=3)
    assert a == b  # reproducible
    for ex in a[:50]:
        names = [t["name"] for t in ex["tools"]]
        assert len(names) == len(set(names)) == len({c["name"] for c in ex["calls"]}) + 3
    positions = Counter(
        next(i for i, t in enumerate(ex["tools"]) if t["name"] == ex["calls"][0]["name"]) for ex in a
    )
    assert len(positions) > 2, "the gold tool is not always first"


def test_rule_checks_on_real_data(converted):
    """Count rule-check failures by reason per file; print them. Real data fails some checks."""
    report = {}
    for name, (examples, rejects) in converted.items():
        s = stats(examples)
        rc = s["rule_checks"]
        assert rc["samples_checked"] == s["with_calls"]
        assert set(rc["call_reasons"]) <= CHECK_CODES, rc["call_reasons"]
        assert rc["samples_failing"] < rc["samples_checked"] * 0.5, (name, rc)
        report[name] = {
            "samples": s["samples"],
            "rejected": dict(Counter(r["reason"] for r in rejects)),
            "failing": f"{rc['samples_failing']}/{rc['samples_checked']}",
            "call_reasons": rc["call_reasons"],
            "tool_reasons": rc["tool_reasons"],
        }
    print("\nrule checks on ../shared/data:")
    for name, r in report.items():
        print(f"  {name}: {r}")
    # the shapes differ: parallel calls in Seal-Tools and ToolRL, no-call answers in the ShareGPT sets
    assert stats(converted["sealtools_dev.jsonl"][0], check=False)["parallel"] == 500
    assert stats(converted["glaive_toolcall_en_demo.json"][0], check=False)["no_call"] > 0


def test_convert_real_file_and_hf_view(shared_data, converted, tmp_path):
    out = tmp_path / "apibank.jsonl"
    summary = convert(shared_data / "apibank_lv3_train.json", out)
    assert summary["read"] == 1245
    assert summary["written"] + summary["rejected"] == 1245  # one record -> one example or one reject
    assert len(out.read_text().splitlines()) == summary["written"]
    assert len((tmp_path / "apibank.rejects.jsonl").read_text().splitlines()) == summary["rejected"]
    mixed = [ex for examples, _ in converted.values() for ex in examples[:40]]
    ds = to_hf_dataset(mixed)
    assert len(ds) == len(mixed) and set(ds.column_names) == {"id", "messages", "tools", "calls", "meta"}
    assert [from_hf_row(r) for r in ds] == mixed  # exact round trip through Arrow
    for ex in mixed:
        if ex["calls"]:
            [ToolCall.from_dict(c) for c in ex["calls"]]
