"""prompts: rendering of every template, overrides, BFCL-style invocation, chat template."""

from __future__ import annotations

import json

import pytest

from open_toolace import prompts

TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def _tools_in(system: str) -> list:
    block = system.split("you can invoke.\n", 1)[1].strip()
    return json.loads(block)


def test_render_invocation_lists_tools_as_json_and_asks_pythonic_calls():
    msgs = prompts.render_invocation([TOOL], [{"role": "user", "content": "Weather in Paris?"}])
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert "[func_name1(params_name1=params_value1" in msgs[0]["content"]
    assert _tools_in(msgs[0]["content"]) == [TOOL]
    assert msgs[1]["content"] == "Weather in Paris?"


def test_render_invocation_merges_existing_system_prompt_like_bfcl():
    conv = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"}]
    msgs = prompts.render_invocation([TOOL], conv)
    assert len(msgs) == 2 and msgs[0]["content"].endswith("\n\nBe brief.")
    assert conv[0]["content"] == "Be brief."  # input not mutated


def test_render_invocation_accepts_tool_objects():
    from open_toolace.formats import Tool

    msgs = prompts.render_invocation(
        [Tool.from_dict(TOOL), Tool.from_dict(TOOL)], [{"role": "user", "content": "q"}]
    )
    assert _tools_in(msgs[0]["content"]) == [TOOL, TOOL]


def test_invocation_prompt_is_compact():
    msgs = prompts.render_invocation([TOOL], [{"role": "user", "content": "q"}])
    assert len(msgs[0]["content"]) < 1100  # ~250 tokens of instructions + the tool


def test_tool_generation_and_adaption():
    g = prompts.render_tool_generation("book a flight to Rome", 4)
    assert (
        "exactly 4 API definition(s)" in g[0]["content"] and g[1]["content"] == "Query: book a flight to Rome"
    )
    a = prompts.render_adaption("Returns the weather for {city}.", name_hint="get_weather")
    assert a[1]["content"] == "API name: get_weather\nDocumentation: Returns the weather for {city}."
    a2 = prompts.render_adaption("Returns the weather.")
    assert a2[1]["content"] == "Documentation: Returns the weather."


def test_refinement_shows_previous_answer_in_last_user_turn():
    msgs = prompts.render_refinement(
        [TOOL], [{"role": "user", "content": "Weather in Paris?"}], "[get_weather(city='Paris')]"
    )
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert "repeat it unchanged" in msgs[0]["content"]
    assert msgs[1]["content"].startswith("Weather in Paris?\n\nPrevious answer: [get_weather(city='Paris')]")


def test_overrides_from_dict_and_yaml(tmp_path):
    p = prompts.load_prompts({"invocation": {"system": "TOOLS={functions} {literal}"}})
    msgs = prompts.render_invocation([TOOL], [{"role": "user", "content": "q"}], prompts=p)
    assert msgs[0]["content"].startswith("TOOLS=[\n{") and msgs[0]["content"].endswith("{literal}")
    assert prompts.PROMPTS["invocation"]["system"].startswith("You are an expert")  # default untouched
    f = tmp_path / "p.yaml"
    f.write_text("tool_generation:\n  user: 'Q: {query} ({m})'\n")
    p2 = prompts.load_prompts(f)
    assert prompts.render_tool_generation("x", 3, prompts=p2)[1]["content"] == "Q: x (3)"
    assert p2["invocation"] == prompts.PROMPTS["invocation"]
    with pytest.raises(ValueError):
        prompts.load_prompts({"invocation": "oops"})


def test_apply_chat_template_with_and_without_template():
    from open_toolace.models import load_tokenizer

    tok = load_tokenizer("tiny-random")
    text = prompts.apply_chat_template(
        tok, prompts.render_invocation([TOOL], [{"role": "user", "content": "q"}])
    )
    assert text.startswith("<|im_start|>system\nYou are an expert") and text.endswith(
        "<|im_start|>assistant\n"
    )

    class NoTemplate:
        chat_template = None

    assert (
        prompts.apply_chat_template(NoTemplate(), [{"role": "user", "content": "q"}])
        == "<|user|>\nq\n<|assistant|>\n"
    )
