"""`toolace infer`: tool file reading, parsed/JSON/raw output, exit codes (generator faked; one real tiny run)."""

from __future__ import annotations

import json

import pytest

import open_toolace.generation as generation
from open_toolace.cli import main
from open_toolace.generation.fake import FakeGenerator

TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def fake(monkeypatch):
    box = {}

    def make(backend, model, adapter=None, **kw):
        box["args"] = (backend, model, adapter, kw)
        box["gen"] = FakeGenerator(box.get("responses", ["[get_weather(city='Paris')]"]))
        return box["gen"]

    monkeypatch.setattr(generation, "make_generator", make)
    return box


@pytest.fixture
def tools_file(tmp_path):
    p = tmp_path / "tools.json"
    p.write_text(json.dumps([{"type": "function", "function": TOOL}]))
    return p


def test_prints_parsed_calls(fake, tools_file, capsys):
    assert main(["infer", "--tools", str(tools_file), "Weather in Paris?"]) == 0
    assert capsys.readouterr().out.strip() == '[get_weather(city="Paris")]'
    backend, model, adapter, _ = fake["args"]
    assert (backend, model, adapter) == ("hf", "embedded:smollm2-135m", None)
    request = fake["gen"].calls[0]["requests"][0]
    assert (
        request[0]["role"] == "system" and "def get_weather(" in request[0]["content"]
    )  # the default set: lean
    assert request[-1] == {"role": "user", "content": "Weather in Paris?"}


def test_json_raw_and_jsonl_tools(fake, tmp_path, capsys):
    jl = tmp_path / "tools.jsonl"
    jl.write_text(json.dumps(TOOL) + "\n\n" + json.dumps({**TOOL, "name": "other"}) + "\n")
    assert main(["infer", "--tools", str(jl), "--json", "q"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    fake["responses"] = ["Sure! [get_weather(city='Paris')] done"]
    assert main(["infer", "--tools", json.dumps(TOOL), "--raw", "q"]) == 0
    assert capsys.readouterr().out.strip() == "Sure! [get_weather(city='Paris')] done"


def test_no_call_and_unparsable(fake, tools_file, capsys):
    fake["responses"] = ["There is no tool for that."]
    assert main(["infer", "--tools", str(tools_file), "q"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "[]" and "no call" in out.err
    fake["responses"] = ["[get_weather(city='Paris'"]
    assert main(["infer", "--tools", str(tools_file), "q"]) == 1
    assert "could not parse" in capsys.readouterr().err


def test_bad_tools_exit_2(fake, tmp_path, capsys):
    assert main(["infer", "--tools", str(tmp_path / "missing.json"), "q"]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["infer", "--tools", str(bad), "q"]) == 2
    assert "not JSON" in capsys.readouterr().err
    assert main(["infer", "--tools", '[{"description": "no name"}]', "q"]) == 2


def test_real_tiny_random_raw(tools_file, capsys):
    assert (
        main(
            [
                "infer",
                "--model",
                "tiny-random",
                "--tools",
                str(tools_file),
                "--raw",
                "--max-new-tokens",
                "4",
                "q",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out  # some (random) text came back through the hf backend
