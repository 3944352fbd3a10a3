"""vllm backend: a clear error without vLLM (CPU); real generation on a GPU (marked gpu)."""

from __future__ import annotations

import importlib.util

import pytest

from open_toolace.generation import Sampling

MSGS = [[{"role": "user", "content": "tell me " * k}] for k in (1, 6, 3)]
HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed")
def test_missing_vllm_is_a_clear_error():
    from open_toolace.generation import make_generator

    with pytest.raises(ImportError, match=r"open-toolace\[vllm\]"):
        make_generator("vllm", "tiny-random")


@pytest.fixture(scope="module")
def vllm_gen():
    pytest.importorskip("vllm")
    from open_toolace.generation.vllm import VLLMGenerator

    return VLLMGenerator("tiny-random", gpu_memory_utilization=0.3, max_model_len=1024)


@pytest.mark.gpu
def test_vllm_n_samples_seeded_and_greedy(vllm_gen):
    s = Sampling(n=4, temperature=1.0, top_k=50, max_new_tokens=8, seed=3)
    a = vllm_gen.generate(MSGS, s, progress=False)
    b = vllm_gen.generate(MSGS, s, progress=False)
    assert [len(x) for x in a] == [4, 4, 4] and a == b
    g = vllm_gen.generate(MSGS, Sampling(n=2, max_new_tokens=8), progress=False)
    assert all(len(set(x)) == 1 and len(x) == 2 for x in g)


@pytest.mark.gpu
def test_vllm_lora_adapter(tmp_path):
    pytest.importorskip("vllm")
    from peft import LoraConfig, get_peft_model

    from open_toolace.generation.vllm import VLLMGenerator
    from open_toolace.models import load_model, resolve_model_path

    base, _ = load_model("tiny-random", dtype="float32", device="cpu")
    peft_model = get_peft_model(
        base, LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.peft_config["default"].base_model_name_or_path = resolve_model_path("tiny-random")
    peft_model.save_pretrained(tmp_path / "adapter")
    gen = VLLMGenerator(str(tmp_path / "adapter"), gpu_memory_utilization=0.3, max_model_len=1024)
    assert gen.lora_request is not None
    out = gen.generate(MSGS, Sampling(n=2, temperature=1.0, max_new_tokens=8), progress=False)
    assert [len(x) for x in out] == [2, 2, 2]
