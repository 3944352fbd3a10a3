"""bench/toolace_r_ab.py end to end on the tiny random model: the shared sft0 start, one ToolACE-R iteration,
the plain-SFT arm matched to its training tokens, side-by-side BFCL (two items of two categories), refinement
of the stored greedy outputs, the JSON + report, and a resume that trains nothing again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from _bench import load_bench

BENCH = Path(__file__).resolve().parents[1] / "bench"
REPO = BENCH.parent


load = load_bench


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_toolace_r_ab_matches_budgets_pairs_arms_and_resumes(tmp_path):
    ab = load("toolace_r_ab")
    out, js, md = tmp_path / "ab", tmp_path / "ab.json", tmp_path / "ab.md"
    tiny = ["lora_r=4", "lora_alpha=8", "effective_batch_size=4"]  # max_length 1024: whole seed prompts
    argv = ["--config", str(REPO / "configs" / "run_tiny.yaml"), "--seed-limit", "8", "--iterations", "1",
            "--k", "2", "--categories", "simple_python,irrelevance", "--limit", "2", "--max-new-tokens", "8",
            "--batch-size", "8", "--refine", "2", "--set", "bootstrap.toolace_r.max_new_tokens=8",
        "--set", "bootstrap.train.max_length=1024",
            *[x for kv in tiny for x in ("--set", f"bootstrap.toolace_r.train.{kv}")],
            "--out", str(out), "--json", str(js), "--report", str(md)]  # fmt: skip
    assert ab.main(argv) == 0
    r = json.loads(js.read_text())
    sft, tr = r["arms"]["sft"], r["arms"]["toolace_r"]
    # both arms continue the shared sft0 adapter, with the same training-token budget (+-5%)
    assert r["arms"]["toolace_r"]["cost"]["iterations"][0]["trained"]
    b = r["budget"]
    assert b["toolace_r_train_tokens"] == tr["cost"]["train_tokens"] > 0
    assert b["sft_train_tokens"] == sft["cost"]["train_tokens"] and b["within_tolerance"]
    assert abs(b["ratio"] - 1) <= 0.05
    it1 = json.loads((out / "toolace_r" / "iter1" / "adapter" / "train_metrics.json").read_text())
    assert it1["tokens_seen"] == it1["data"]["tokens"]  # one pass per iteration, despite the --set overrides
    assert tr["cost"]["sampling_tokens"] > 0 and sft["cost"]["sampling_tokens"] == 0
    assert json.loads((out / "sft" / "adapter" / "adapter_config.json").read_text())
    assert json.loads((out / "toolace_r" / "toolace_r.json").read_text())["iterations"][0]["adapter_in"] == (
        "../sft0"
    )
    # paired intervals against plain SFT, with and without refinement; honest irrelevance too
    p = r["paired_minus_sft"]
    assert set(p) == {"toolace_r", "sft+refine", "toolace_r+refine"}
    assert p["toolace_r"]["all"]["n"] == 4 and "irrelevance_honest" in p["toolace_r+refine"]
    ref = tr["refinement"]
    assert ref["n_steps"] == 2 and len(ref["categories"]["simple_python"]["accuracy_by_step"]) == 3
    assert {"wrong_to_right", "right_to_wrong", ref["token_field"]} <= set(ref["categories"]["irrelevance"])
    stages = json.loads((out / "manifest.json").read_text())["stages"]
    refined = [v for k, v in stages.items() if k.startswith("refine2.")]
    assert len(refined) == 2 and all(v["greedy_generated"] == 0 for v in refined)  # stored greedy outputs
    assert "all" in ref["refined_minus_greedy"] and isinstance(ref["significant_drops"], list)
    assert r["machine"]["cores"] and r["command"].startswith("python bench/toolace_r_ab.py")
    text = md.read_text()
    assert (
        "## Cost of each arm" in text
        and "| simple_python | 2 |" in text
        and "Refinement of toolace_r" in text
    )
    # a second call trains and generates nothing again and writes the same result
    metrics = sorted(out.glob("**/train_metrics.json"))
    stamps = [m.stat().st_mtime_ns for m in metrics]
    before = {k: v for k, v in r.items() if k not in ("date", "command")}
    assert ab.main(argv) == 0
    after = {k: v for k, v in json.loads(js.read_text()).items() if k not in ("date", "command")}
    assert after == before
    assert [m.stat().st_mtime_ns for m in sorted(out.glob("**/train_metrics.json"))] == stamps
    assert len(metrics) == 3  # sft0, sft, toolace_r/iter1


def test_sft_samples_stop_within_the_tolerance_of_the_budget(tmp_path):
    ab = load("toolace_r_ab")
    sizes = [100, 250, 40, 400, 90]
    chosen, total, passes = ab.budget_prefix(sizes, 1000, seed=0)
    assert 950 <= total <= 1050 and total == sum(sizes[i] for i, _ in chosen)
    assert passes >= 2 and len({(i, p) for i, p in chosen}) == len(chosen)
    assert ab.budget_prefix(sizes, 0, seed=0) == ([], 0, 0)
    assert ab.budget_prefix([0, 0], 500, seed=0)[1] == 0  # nothing trainable: stops instead of looping
