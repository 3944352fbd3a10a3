"""bench/eval_profile.py's grouping of a cProfile run: every second lands in the right stage and operation."""

from __future__ import annotations

import cProfile
import pstats
import time

import pytest
import torch

from _bench import load_bench
from open_toolace.generation import Sampling
from open_toolace.generation.hf import HFGenerator
from open_toolace.models import load_model


@pytest.fixture(scope="module")
def bench():
    return load_bench("eval_profile")


def profiled(fn):
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    fn()
    prof.disable()
    return pstats.Stats(prof).stats, time.perf_counter() - t


def test_operations_are_grouped_by_kernel(bench):
    x, w = torch.randn(256, 256), torch.randn(256, 256)

    def work():
        for _ in range(20):
            torch.nn.functional.linear(x, w)
        for _ in range(10):
            torch.matmul(x, w)
        torch.softmax(x, -1)
        sum(i * i for i in range(20000))  # Python: "everything else"

    stats, total = profiled(work)
    stages, ops = bench.group_times(stats, total)
    assert ops["linear layers (matmul kernels)"] > 0
    assert ops["decode attention q.K, p.V (matmul kernels)"] > 0
    assert ops["mask, softmax, dtype casts"] > 0
    assert ops[bench.OTHER] > 0
    assert ops["prefill attention (sdpa kernel)"] == 0
    assert sum(ops.values()) == pytest.approx(sum(v[2] for v in stats.values()))
    # nothing of the generator ran: all time is "other"
    assert stages["other"] == pytest.approx(total)
    assert all(v == 0 for k, v in stages.items() if k != "other")


def test_stages_of_a_generate_call(bench):
    model, tok = load_model("tiny-random", dtype="float32")
    gen = HFGenerator(model_obj=model, tokenizer=tok, static_cache=True, tune_malloc=False)
    reqs = [[{"role": "user", "content": "hello " * k}] for k in (2, 6)]
    stats, total = profiled(lambda: gen.generate(reqs, Sampling(max_new_tokens=4), progress=False))
    stages, _ = bench.group_times(stats, total)
    for stage in bench.STAGES:
        assert stages[stage] > 0, stage
    top = sum(v for k, v in stages.items() if not k.startswith(" ") and k != "other")
    assert top <= total
    assert stages["other"] == pytest.approx(total - top)
    assert 0 < stages["  of which stop checks (StopOnText)"] <= stages["decode (HFGenerator._decode)"]
