"""`toolace data convert|stats` end to end: rejects files with line numbers, clear errors, stats; BFCL input."""

from __future__ import annotations

import json

import pytest

from open_toolace.cli import main
from open_toolace.data import load_examples, make_example

TOOLS = [
    {"api_name": "getA", "api_description": "Get A.", "field": "f/a", "parameters": {"q": {"type": "str", "description": "query"}}, "required": ["q"], "responses": {}},
    {"api_name": "getB", "api_description": "Get B.", "field": "f/b", "parameters": {"n": {"type": "int", "description": "count"}}, "required": [], "responses": {}},
]  # fmt: skip


def _query(i, api="getA", params=None):
    return json.dumps(
        {
            "id": f"dev-{i}",
            "query": f"q{i}",
            "calling": [{"api": api, "parameters": params or {"q": f"v{i}"}, "responses": []}],
        }
    )


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_convert_writes_rejects_with_line_numbers(tmp_path, capsys):
    lines = [
        _query(0),
        '{"id": "dev-1", "query": "truncated", "calling": [',  # line 2: not JSON
        _query(2),
        "",  # blank lines are not records
        json.dumps({"id": "dev-4", "query": "no calling field"}),  # line 5: wrong shape
        _query(5, api="getNope"),  # line 6: a tool the tool file does not have
        _query(6, api="getB", params={"n": 3}),
    ]
    src = tmp_path / "dev.jsonl"
    src.write_text("\n".join(lines) + "\n")
    (tmp_path / "tools.jsonl").write_text("".join(json.dumps(t) + "\n" for t in TOOLS))
    out = tmp_path / "out" / "seal.jsonl"
    rc = main(
        [
            "data",
            "convert",
            "--from",
            "sealtools",
            str(src),
            str(out),
            "--tools",
            str(tmp_path / "tools.jsonl"),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0
    examples = _read_jsonl(out)
    assert [e["id"] for e in examples] == ["sealtools-dev-0", "sealtools-dev-2", "sealtools-dev-6"]
    rejects = _read_jsonl(tmp_path / "out" / "seal.rejects.jsonl")
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (2, "bad_json"),
        (5, "bad_record"),
        (6, "unknown_tool"),
    ]
    assert rejects[0]["record"] == lines[1] and "getNope" in rejects[2]["detail"]
    assert "read            6" in text and "written         3" in text and "rejected        3" in text
    assert "bad_json: 1" in text and "unknown_tool: 1" in text
    # --json summary, and the internal file converts to itself
    rc = main(["data", "convert", "--json", str(out), str(tmp_path / "again.jsonl")])
    summary = json.loads(capsys.readouterr().out)
    assert (
        rc == 0
        and summary["format"] == "internal"
        and (summary["read"], summary["written"], summary["rejected"]) == (3, 3, 0)
    )
    assert _read_jsonl(tmp_path / "again.jsonl") == examples
    assert (tmp_path / "again.rejects.jsonl").read_text() == ""  # written even when empty: no stale rejects


def test_convert_injected_lines_into_real_file(shared_data, tmp_path, capsys):
    real = (shared_data / "sealtools_dev.jsonl").read_text().splitlines()
    bad = {3: "{oops", 50: '{"id": "x", "query": 1, "calling": []}', 400: "[1, 2"}  # 1-based target lines
    lines = list(real)
    for at in sorted(bad):
        lines.insert(at - 1, bad[at])
    src = tmp_path / "dev_injected.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "seal.jsonl"
    assert (
        main(["data", "convert", str(src), str(out), "--tools", str(shared_data / "sealtools_tools.jsonl")])
        == 0
    )
    rejects = _read_jsonl(tmp_path / "seal.rejects.jsonl")
    assert [r["line"] for r in rejects] == sorted(bad)
    assert [r["reason"] for r in rejects] == ["bad_json", "bad_record", "bad_json"]
    assert len(_read_jsonl(out)) == len(real)
    assert "read          703" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content,expect",
    [
        (None, "file not found"),
        ('[\n  {"conversations": []},\n  {"conversations": [}\n]', ":3: not valid JSON"),
        ("hello, I am not data\n", ":1: neither a JSON array nor JSON Lines"),
    ],
)
def test_unreadable_file_is_one_clear_error(tmp_path, capsys, content, expect):
    src = tmp_path / "in.json"
    if content is not None:
        src.write_text(content)
    out = tmp_path / "out.jsonl"
    for argv in (
        ["data", "convert", "--from", "sharegpt", str(src), str(out)],
        ["data", "stats", str(src), "--from", "sharegpt"],
    ):
        rc = main(argv)
        err = capsys.readouterr().err.strip()
        assert rc == 2
        assert err.startswith("error: ") and str(src) in err and expect in err and "\n" not in err
    assert not out.exists()


def test_option_for_another_format_is_an_error(tmp_path, capsys):
    src = tmp_path / "s.json"
    src.write_text(json.dumps([{"conversations": [{"from": "human", "value": "hi"}], "tools": []}]))
    assert main(["data", "convert", str(src), str(tmp_path / "o.jsonl"), "--tools", "x.jsonl"]) == 2
    assert "--tools applies to sealtools" in capsys.readouterr().err


def _stats_examples():
    tool = {
        "name": "f",
        "description": "F.",
        "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
    }
    g = {"name": "g", "description": "G.", "parameters": {"type": "object", "properties": {}}}
    user = [{"role": "user", "content": "do it with 3"}]
    return [
        make_example("a", user, [tool], [{"name": "f", "arguments": {"x": 3}}], source="t", kind="call"),
        make_example(
            "b",
            user,
            [tool, g],
            [{"name": "f", "arguments": {"x": 3}}, {"name": "g", "arguments": {}}],
            source="t",
            kind="call",
        ),
        make_example("c", user, [tool, g], [], source="t", kind="no_call"),
        make_example("d", user, [], None, source="u", kind="unlabeled"),
        make_example(
            "e",
            user,
            [tool],
            [{"name": "h", "arguments": {}}, {"name": "f", "arguments": {"x": "3"}}],
            source="t",
            kind="call",
        ),
    ]


def test_stats_text_and_json(tmp_path, capsys):
    from open_toolace.data import write_examples

    p = tmp_path / "ex.jsonl"
    write_examples(p, _stats_examples())
    assert main(["data", "stats", str(p), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["samples"] == 5 and s["format"] == "internal" and s["rejected"] == 0
    assert s["tools_per_sample"] == {"mean": 1.2, "min": 0, "max": 2}
    assert s["calls_per_sample"] == {"mean": 1.667, "min": 1, "max": 2}  # over the 3 samples with calls
    assert (s["with_calls"], s["parallel"], s["multiple_choice"], s["no_call"], s["unlabeled"]) == (
        3,
        2,
        2,
        1,
        1,
    )
    assert s["parallel_share"] == round(2 / 3, 4) and s["no_call_share"] == 0.2
    rc = s["rule_checks"]
    assert (rc["samples_checked"], rc["samples_failing"]) == (3, 1)
    assert rc["call_reasons"] == {"unknown_function": 1, "type_mismatch": 1}
    assert list(rc["first_failures"]) == ["e"]
    assert main(["data", "stats", str(p)]) == 0
    text = capsys.readouterr().out
    assert "| samples | 5 |" in text and "| parallel (>1 call) | 2 (66.7% of samples with calls) |" in text
    assert "unknown_function: 1" in text and "1 of 3 samples" in text
    # grounding flags string values that do not occur in the user turns
    w = {
        "name": "w",
        "description": "W.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    write_examples(
        p,
        [
            make_example(
                "g",
                [{"role": "user", "content": "weather in Paris"}],
                [w],
                [{"name": "w", "arguments": {"city": "Tokyo"}}],
                source="t",
            )
        ],
    )
    assert main(["data", "stats", str(p), "--json", "--grounding", "strict"]) == 0
    assert "ungrounded_value" in json.loads(capsys.readouterr().out)["rule_checks"]["call_reasons"]


def test_bfcl_categories_via_cli(tmp_path, capsys):
    out = tmp_path / "simple.jsonl"
    assert main(["data", "convert", "--from", "bfcl", "simple_python", str(out)]) == 0
    assert "read          400" in capsys.readouterr().out
    ex = {e["meta"]["source_id"]: e for e in load_examples(out)}
    assert ex["simple_python_0"]["calls"] == [
        {"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5, "unit": "units"}}
    ]
    assert ex["simple_python_2"]["calls"] == [
        {"name": "math.hypot", "arguments": {"x": 4, "y": 5}}
    ]  # z: ["", 0] -> omitted
    assert ex["simple_python_1"]["tools"][0]["parameters"]["type"] == "object"  # BFCL "dict" normalised
    out = tmp_path / "irr.jsonl"
    assert main(["data", "convert", "--from", "bfcl", "irrelevance", str(out)]) == 0
    irr = load_examples(out)
    assert len(irr) == 240 and all(e["calls"] == [] for e in irr)
    assert main(["data", "convert", "--from", "bfcl", "multi_turn_base", str(tmp_path / "mt.jsonl")]) == 0
    rejects = _read_jsonl(tmp_path / "mt.rejects.jsonl")
    assert len(rejects) == 200 and {r["reason"] for r in rejects} == {"no_functions"}
    assert main(["data", "convert", "--from", "bfcl", "no_such_category", str(tmp_path / "x.jsonl")]) == 2
    assert "not a BFCL category" in capsys.readouterr().err


def test_bfcl_labels_pass_bfcl_own_checker():
    """Labels built from the possible answers are accepted by bfcl_eval's ast_checker (the data's own few
    contradictions aside, e.g. a required parameter whose only listed value is "")."""
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

    from open_toolace.data import read_examples
    from open_toolace.data.bfcl import resolve_bfcl_path
    from open_toolace.formats import ToolCall, calls_to_bfcl

    for cat in ("simple_python", "multiple", "parallel", "live_parallel_multiple"):
        functions = {}
        for line in resolve_bfcl_path(cat).read_text().splitlines():
            rec = json.loads(line)
            functions[rec["id"]] = rec["function"]
        examples, rejects = read_examples(cat, "bfcl")
        assert rejects == []
        invalid = []
        for e in examples:
            decoded = calls_to_bfcl([ToolCall.from_dict(c) for c in e["calls"]])
            verdict = ast_checker(
                functions[e["meta"]["source_id"]],
                decoded,
                e["meta"]["possible_answer"],
                Language.PYTHON,
                cat,
                "gorilla-openfunctions-v2",
            )
            if not verdict["valid"]:
                invalid.append((e["id"], verdict["error_type"]))
        print(
            f"\n{cat}: {len(examples) - len(invalid)}/{len(examples)} labels accepted by ast_checker; {invalid}"
        )
        assert len(invalid) <= 0.01 * len(examples), invalid
