"""The lean prompt set (Python signatures, short instruction): rendering, training targets, rounds, and the
prompt format saved with a model and picked up by eval and infer."""

from __future__ import annotations

import json

import pytest

import open_toolace.generation as generation
from open_toolace import evolve, prompts
from open_toolace.cli import main
from open_toolace.data.records import make_example
from open_toolace.evaluate import load_bfcl
from open_toolace.evaluate.bfcl import invocation_request
from open_toolace.evaluate.runner import EvalConfig, run_eval
from open_toolace.formats import python_doc
from open_toolace.formats.tools import parse_tool
from open_toolace.generation import Sampling
from open_toolace.generation.fake import FakeGenerator
from open_toolace.training.mixture import TaskMixConfig, build_mixture

TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name."}},
        "required": ["city"],
    },
}


def example(i: int, city: str) -> dict:
    return make_example(
        f"w{i}",
        [{"role": "user", "content": f"Weather in {city}?"}],
        [TOOL],
        [{"name": "get_weather", "arguments": {"city": city}}],
        source="t",
    )


def test_lean_invocation_is_python_short_and_has_no_copyable_placeholder():
    item = load_bfcl(["simple_python"], 1)[0]
    lean = invocation_request(item, "lean")[0]["content"]
    bfcl = invocation_request(item, "bfcl")[0]["content"]
    assert "def " in lean and '"parameters"' not in lean
    assert len(lean) < len(bfcl) * 0.7
    assert "func_name" not in lean and "params_name" not in lean
    fns = [parse_tool(f).name for f in item["function"]]
    assert [t.name for t in python_doc.parse_tools(lean)[0]] == fns, "the prompt's tools read back"
    assert prompts.tool_format("lean") == "python" and prompts.tool_format(None) == "json"
    with pytest.raises(ValueError):
        prompts.get_prompts("fancy")


def test_lean_training_targets_are_python_that_parses_back():
    samples, _ = build_mixture(
        [example(i, c) for i, c in enumerate(["Paris", "Oslo"])],
        TaskMixConfig(prompt_set="lean", token_shares=None),
    )
    by_task = {}
    for s in samples:
        by_task.setdefault(s["task"], []).append(s)
    gen = by_task["tool_generation"][0]["completion"][0]["content"]
    adapt = by_task["adaption"][0]["completion"][0]["content"]
    want = python_doc.comparable(parse_tool(TOOL))
    assert [python_doc.comparable(t) for t in python_doc.parse_tools(gen)[0]] == [want]
    assert python_doc.comparable(python_doc.parse_tool(adapt)) == want
    assert all("def get_weather(" in s["prompt"][0]["content"] for s in by_task["invocation"])
    with pytest.raises(ValueError, match="prompt_set"):
        TaskMixConfig(prompt_set="fancy")


def test_round_steps_read_python_tools():
    stub = python_doc.render_tool(parse_tool(TOOL))
    q = [
        make_example(f"q{i}", [{"role": "user", "content": t}], [], None, source="t")
        for i, t in enumerate(["weather in Rome", "hmm"])
    ]
    gen = FakeGenerator(
        lambda m, k: stub if "Rome" in m[-1]["content"] else "def broken(a: int = os.system('x')):\n  pass"
    )
    kept, rejected = evolve.generate_tools(gen, q, 1, Sampling(), progress=False, prompts="lean")
    assert [t["name"] for t in kept[0]["tools"]] == ["get_weather"]
    assert [(r["id"], r["reason"]) for r in rejected] == [("q1", "bad_python")]
    assert "non_literal_default" in rejected[0]["message"]
    assert "Python function stub" in gen.calls[0]["requests"][0][0]["content"]
    inv = evolve.sample_invocations(
        FakeGenerator('[get_weather(city="Rome")]'), kept, Sampling(n=2), False, "lean"
    )
    assert inv[0]["samples"] == ['[get_weather(city="Rome")]'] * 2


def test_saved_prompt_format_is_used_by_eval_and_infer(tmp_path, monkeypatch):
    # Saved `bfcl`, not the default (`lean`), so only the saved file can make eval and infer pick it.
    adapter = tmp_path / "adapter"
    prompts.save_prompt_format(adapter, "bfcl")
    assert json.loads((adapter / prompts.PROMPT_FORMAT_FILE).read_text()) == {
        "prompt_set": "bfcl",
        "tool_format": "json",
    }
    gen = FakeGenerator("[]")
    cfg = EvalConfig(
        model="tiny-random",
        adapter=str(adapter),
        categories="simple_python",
        limit=1,
        out=str(tmp_path / "ev"),
    )
    scores = run_eval(cfg, generator=gen)
    system = gen.calls[0]["requests"][0][0]["content"]
    assert scores["prompt_set"] == "bfcl" and '"parameters"' in system and "def " not in system

    box = {}

    def make(backend, model, adapter=None, **kw):
        box["gen"] = FakeGenerator("[]")
        return box["gen"]

    monkeypatch.setattr(generation, "make_generator", make)
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([TOOL]))
    assert main(["infer", "--tools", str(tools), "--adapter", str(adapter), "Weather in Paris?"]) == 0
    assert '"parameters"' in box["gen"].calls[0]["requests"][0][0]["content"]
    with pytest.warns(UserWarning, match="trained with prompt set 'bfcl'"):
        assert (
            main(["infer", "--tools", str(tools), "--adapter", str(adapter), "--prompt-set", "lean", "Hi"])
            == 0
        )
    assert "def get_weather(" in box["gen"].calls[0]["requests"][0][0]["content"]
    # nothing saved (a model trained elsewhere, or before formats were saved): the project's default
    assert prompts.resolve_prompt_set(None, tmp_path / "nothing-saved") == "lean"
    assert TaskMixConfig().prompt_set == "lean"


def test_trainer_saves_the_prompt_format(tmp_path):
    from open_toolace.io import write_jsonl
    from open_toolace.training import TrainConfig, train

    samples, _ = build_mixture(
        [example(i, c) for i, c in enumerate(["Paris", "Oslo"])], TaskMixConfig(prompt_set="lean")
    )
    write_jsonl(tmp_path / "s.jsonl", samples)
    cfg = TrainConfig(model="tiny-random", max_steps=1, save_strategy="no", prompt_set="lean", lora_r=4, lora_alpha=8,
                      per_device_train_batch_size=1, effective_batch_size=1, torch_threads=1)  # fmt: skip
    out = train(cfg, tmp_path / "s.jsonl", tmp_path / "a")
    assert prompts.saved_prompt_set(out) == "lean"
    # without prompt_set, the set `toolace train build` recorded beside the samples is the one saved
    from dataclasses import replace

    from open_toolace.config import save_config
    from open_toolace.training.trainer import samples_prompt_set

    save_config(TaskMixConfig(prompt_set="lean"), tmp_path / "s.config.yaml")
    assert (
        samples_prompt_set(tmp_path / "s.jsonl") == "lean"
        and samples_prompt_set(tmp_path / "x.jsonl") is None
    )
    out = train(replace(cfg, prompt_set=None), tmp_path / "s.jsonl", tmp_path / "b")
    assert prompts.saved_prompt_set(out) == "lean"


def test_exported_chat_template_renders_tools_like_the_lean_prompt():
    """A server that applies the checkpoint's chat template to an OpenAI `tools` list builds the very prompt
    `prompts.py` renders for the lean set (the one the model was trained on), for real BFCL tools."""
    import copy

    from open_toolace.formats.tools import tool_to_openai
    from open_toolace.models import load_tokenizer
    from open_toolace.prompts import apply_chat_template, render_invocation
    from open_toolace.training.export import tool_chat_template

    tok = load_tokenizer("tiny-random")
    served = copy.deepcopy(tok)
    served.chat_template = tool_chat_template(tok.chat_template, "lean")
    items = [it for c in ("simple_python", "multiple", "parallel_multiple") for it in load_bfcl([c], 25)]
    extra = {"name": "geo.route", "description": 'Plan "it"\\n  now.', "parameters": {"type": "object",
             "properties": {"stops": {"type": "array", "items": {"type": "object", "properties": {
                 "city": {"type": "string"}, "nights": {"type": "integer", "default": 1}}, "required": ["city"]}},
                 "mode": {"type": ["string", "null"], "enum": ["car", "train"]}, "point": {"type": "array"},
                 "fast": {"type": "boolean", "default": False}, "w": {"type": "number", "default": 0.5}},
             "required": ["stops"]}}  # fmt: skip
    checked = 0
    for item in [*items, {"function": [extra], "question": [[{"role": "user", "content": "go"}]]}]:
        tools = [tool_to_openai(parse_tool(f)) for f in item["function"]]
        msgs = [{"role": "user", "content": "What now?"}]
        text = served.apply_chat_template(msgs, tools=tools, tokenize=False, add_generation_prompt=True)
        assert text == apply_chat_template(tok, render_invocation(tools, msgs, "lean")), item.get("id")
        checked += 1
    assert checked == 76
    plain = [{"role": "user", "content": "hi"}]  # without tools the template is the base one
    assert served.apply_chat_template(plain, tokenize=False) == tok.apply_chat_template(plain, tokenize=False)
