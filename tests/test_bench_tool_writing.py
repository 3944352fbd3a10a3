"""bench/tool_writing.py on the tiny random model: the same held-out queries for each arm, each arm prompted
in the prompt set saved with its adapter, every query counted as kept or rejected with a reason."""

from __future__ import annotations

import json
from pathlib import Path

from _bench import load_bench

REPO = Path(__file__).resolve().parents[1]


def adapter(path: Path, prompt_set: str) -> Path:
    from peft import LoraConfig, get_peft_model

    from open_toolace import models
    from open_toolace.prompts import save_prompt_format

    base, _ = models.load_model("tiny-random", dtype="float32")
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, lora).save_pretrained(path)
    save_prompt_format(path, prompt_set)
    return path


def test_tool_writing_counts_every_query_per_arm(tmp_path):
    tw = load_bench("tool_writing")
    a, b = adapter(tmp_path / "a", "bfcl"), adapter(tmp_path / "b", "lean")
    js = tmp_path / "tw.json"
    argv = [f"json={a}", f"lean={b}", "--config", str(REPO / "configs" / "run_tiny.yaml"), "--queries", "3",
            "--out", str(tmp_path / "out"), "--json", str(js)]  # fmt: skip
    assert tw.main(argv) == 0
    res = json.loads(js.read_text())
    assert set(res["arms"]) == {"json", "lean"}
    assert [res["arms"][n]["prompt_set"] for n in ("json", "lean")] == ["bfcl", "lean"]
    for arm in res["arms"].values():
        assert arm["queries"] == 3 and arm["valid"] + sum(arm["rejected"].values()) == 3
    assert res["command"].startswith("python bench/tool_writing.py json=")
