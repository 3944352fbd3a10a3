"""SFT trainer on tiny-random: completion-only labels, padding-free separation, LoRA updates, truncation
accounting, resume after a kill, continue-an-adapter, merged export. All CPU, seconds each."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
import yaml

from helpers import tiny_train as tiny
from open_toolace.config import load_config
from open_toolace.io import write_jsonl
from open_toolace.training import (
    IGNORE,
    TrainConfig,
    export_merged,
    make_trainer,
    prepare_samples,
    tokenize_sample,
    train,
)
from open_toolace.training.trainer import METRICS


def sample(i: int, pad_words: int = 0, answer: str | None = None) -> dict:
    prompt = [
        {"role": "system", "content": "You call tools. Tools: [get_weather(city)]"},
        {"role": "user", "content": f"weather in city {i}?" + " please" * pad_words},
    ]
    completion = answer if answer is not None else f'[get_weather(city="c{i}")]'
    return {
        "prompt": prompt,
        "completion": [{"role": "assistant", "content": completion}],
        "task": "invocation",
        "id": f"s{i}",
    }


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # The tiny model gains nothing from threads, and on a shared 2-core box they spin against other jobs.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tokenizer():
    from open_toolace.models import load_tokenizer

    return load_tokenizer("tiny-random")


@pytest.fixture()
def samples_file(tmp_path):
    path = tmp_path / "samples.jsonl"
    write_jsonl(path, [sample(i, pad_words=i % 5) for i in range(8)])
    return path


def test_labels_mask_the_prompt(tokenizer):
    s = sample(1)
    t = tokenize_sample(s, tokenizer)
    prompt_ids = tokenizer.apply_chat_template(s["prompt"], tokenize=True, add_generation_prompt=True)[
        "input_ids"
    ]
    n = len(prompt_ids)
    assert t["n_prompt"] == n and t["input_ids"][:n] == prompt_ids
    assert t["labels"][:n] == [IGNORE] * n
    assert t["labels"][n:] == t["input_ids"][n:]
    completion = tokenizer.decode(t["input_ids"][n:])
    assert completion.startswith('[get_weather(city="c1")]') and tokenizer.eos_token in completion


@pytest.mark.parametrize("padding_free", [True, False])
def test_collator_labels_are_completion_only(tokenizer, padding_free, tmp_path):
    rows, _ = prepare_samples([sample(1), sample(2, pad_words=7)], tokenizer, 256)
    trainer = make_trainer(tiny(padding_free=padding_free), rows, tmp_path)
    batch = trainer.data_collator([{k: r[k] for k in ("input_ids", "labels")} for r in rows])
    labels, ids = batch["labels"], batch["input_ids"]
    if padding_free:  # one flat row, positions restart at each sample, no pad token at all
        assert ids.shape == (1, sum(len(r["input_ids"]) for r in rows)) and "attention_mask" not in batch
        assert (batch["position_ids"][0] == 0).sum() == 2
        flat = [x for r in rows for x in r["labels"]]
        assert labels[0].tolist() == flat
    else:
        assert ids.shape == (2, max(len(r["input_ids"]) for r in rows))
        for b, r in enumerate(rows):
            assert labels[b, : len(r["labels"])].tolist() == r["labels"]
            assert (labels[b, len(r["labels"]) :] == IGNORE).all()
    for r in rows:
        n_prompt = r["labels"].index(next(x for x in r["labels"] if x != IGNORE))
        assert n_prompt > 10 and all(x == IGNORE for x in r["labels"][:n_prompt])


def test_padding_free_keeps_samples_separate(tokenizer, tmp_path):
    """Each sample's log-probs in the flattened batch equal those of the sample alone: no cross-attention."""
    rows, _ = prepare_samples([sample(1), sample(2, pad_words=9), sample(3, pad_words=3)], tokenizer, 256)
    trainer = make_trainer(tiny(), rows, tmp_path)
    model = trainer.model.eval()
    batch = trainer.data_collator([{k: r[k] for k in ("input_ids", "labels")} for r in rows])
    with torch.no_grad():
        flat = model(**{k: v for k, v in batch.items() if k != "labels"}).logits[0]
        start = 0
        for r in rows:
            n = len(r["input_ids"])
            alone = model(input_ids=torch.tensor([r["input_ids"]])).logits[0]
            torch.testing.assert_close(flat[start : start + n], alone, atol=1e-4, rtol=1e-4)
            start += n


@pytest.mark.parametrize("padding_free", [True, False])
def test_sparse_lm_head_loss_equals_trl_loss(tokenizer, padding_free, tmp_path):
    """Our loss (LM head on completion positions only) is TRL's loss, value and gradient."""
    rows, _ = prepare_samples([sample(1), sample(2, pad_words=7)], tokenizer, 256)
    losses, grads = [], []
    for sparse in (True, False):
        trainer = make_trainer(
            tiny(padding_free=padding_free, sparse_lm_head=sparse, bf16=False), rows, tmp_path
        )
        batch = trainer.data_collator([{k: r[k] for k in ("input_ids", "labels")} for r in rows])
        n_items = (batch["labels"][:, 1:] != IGNORE).sum()
        model = trainer.model.train()
        model.zero_grad()
        loss = trainer.compute_loss(model, batch, num_items_in_batch=n_items)
        loss.backward()
        losses.append(loss.detach())
        grads.append({k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None})
    torch.testing.assert_close(losses[0], losses[1], atol=1e-5, rtol=1e-5)
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], atol=1e-6, rtol=1e-4)


def test_truncated_completions_are_dropped_and_counted(tokenizer):
    short = [sample(i) for i in range(3)]
    long = [dict(sample(10 + i, pad_words=200), id=f"long{i}") for i in range(2)]
    rows, report = prepare_samples(short + long, tokenizer, max_length=120)
    assert [r["id"] for r in rows] == ["s0", "s1", "s2"]
    assert report["dropped_truncated"] == 2 and report["dropped_truncated_ids"] == ["long0", "long1"]
    assert report["dropped_truncated_by_task"] == {"invocation": 2}
    assert all(any(x != IGNORE for x in r["labels"]) for r in rows)
    # a completion cut in half keeps its remaining loss tokens
    rows, report = prepare_samples([sample(0, answer="x " * 200)], tokenizer, max_length=120)
    assert len(rows) == 1 and report["truncated_kept"] == 1 and len(rows[0]["input_ids"]) == 120


def test_loss_falls_lora_changes_base_does_not(tokenizer, tmp_path):
    rows, _ = prepare_samples([sample(5)] * 8, tokenizer, 256)  # one sample, repeated
    trainer = make_trainer(tiny(max_steps=10, learning_rate=1e-2, save_strategy="no"), rows, tmp_path)
    model = trainer.model
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    trainer.train()
    after = dict(model.named_parameters())
    lora = [k for k in before if "lora_" in k]
    base = [k for k in before if "lora_" not in k]
    assert lora and base
    assert all(after[k].requires_grad for k in lora) and not any(after[k].requires_grad for k in base)
    assert all(not torch.equal(before[k], after[k]) for k in lora if "lora_B" in k)
    assert all(torch.equal(before[k], after[k]) for k in base)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 10 and all(torch.isfinite(torch.tensor(losses)))
    # tiny-random starts near-uniform over 49k tokens (loss ~ln 49152 = 10.8). Its logits are bounded by the
    # (frozen) final norm and small tied embeddings, so LoRA can only lower the loss by ~1.3; it must rank
    # the right tokens first, though.
    assert losses[-1] < losses[0] - 0.5
    accuracy = [h["mean_token_accuracy"] for h in trainer.state.log_history if "mean_token_accuracy" in h]
    assert accuracy[-1] == 1.0 > accuracy[0]


def test_train_writes_outputs_and_resumes_after_kill(samples_file, tmp_path):
    from transformers import TrainerCallback

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 3:
                raise KeyboardInterrupt("killed")

    out = tmp_path / "run"
    cfg = tiny(max_steps=4, save_steps=2)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, samples_file, out, callbacks=[Kill()])
    assert (out / "checkpoint-2").is_dir() and not (out / METRICS).exists()
    train(cfg, samples_file, out)
    m = json.loads((out / METRICS).read_text())
    assert m["resumed_from"].endswith("checkpoint-2") and m["global_step"] == 4
    assert m["data"]["samples"] == 8 and m["data"]["dropped_truncated"] == 0
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "train_config.yaml"):
        assert (out / name).exists(), name
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == "tiny-random"
    assert load_config(TrainConfig, out / "train_config.yaml") == cfg

    # The same run without the kill ends at the same adapter.
    ref = train(cfg, samples_file, tmp_path / "ref")
    from safetensors.torch import load_file

    a, b = load_file(out / "adapter_model.safetensors"), load_file(ref / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)
    # ... and reports the tokens of all its steps, those before the kill included.
    m_ref = json.loads((ref / METRICS).read_text())
    assert m["counts_all_steps"] and m["tokens_seen"] == m_ref["tokens_seen"] > 0
    assert json.loads((out / "checkpoint-2" / "progress.json").read_text())["tokens_seen"] < m["tokens_seen"]

    # A finished run is not retrained; a different config refuses to resume into it.
    assert train(cfg, samples_file, out) == out
    (out / METRICS).unlink()
    with pytest.raises(ValueError, match=r"different config; changed settings:\n  lora_r: 16 -> 4"):
        train(tiny(max_steps=4, save_steps=2, lora_r=4), samples_file, out)
    # Checkpoints made before a setting existed resume when the setting is left at its default.
    saved = yaml.safe_load((out / "train_config.yaml").read_text())
    del saved["step_cap"]
    (out / "train_config.yaml").write_text(yaml.safe_dump(saved))
    assert train(cfg, samples_file, out) == out and (out / METRICS).exists()
    (out / METRICS).unlink()
    with pytest.raises(ValueError, match="  step_cap: None -> 3"):
        train(replace(cfg, step_cap=3), samples_file, out)


def test_continue_adapter_and_export_merged(samples_file, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from open_toolace.models import load_model

    first = train(tiny(max_steps=2), samples_file, tmp_path / "r0")
    second = train(tiny(max_steps=2, adapter=str(first)), samples_file, tmp_path / "r1")
    w0, w1 = load_file(first / "adapter_model.safetensors"), load_file(second / "adapter_model.safetensors")
    assert w0.keys() == w1.keys() and any(not torch.equal(w0[k], w1[k]) for k in w0)

    merged_dir = export_merged(second, tmp_path / "merged")
    assert (merged_dir / "model.safetensors").exists() and not (merged_dir / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    peft_model, tok = load_model(str(second), dtype="float32", device="cpu")
    ids = tok.apply_chat_template(sample(1)["prompt"], add_generation_prompt=True, return_tensors="pt")[
        "input_ids"
    ]
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, peft_model(ids).logits, atol=1e-4, rtol=1e-4)

    # Served with OpenAI `tools` (vLLM passes them to the chat template), the prompt is the training prompt.
    from transformers import AutoTokenizer

    from open_toolace.formats import ToolCall, render_calls
    from open_toolace.prompts import apply_chat_template, render_invocation

    served = AutoTokenizer.from_pretrained(merged_dir)
    fn = {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    msgs = [{"role": "user", "content": "weather in Paris?"}]
    text = served.apply_chat_template(
        msgs, tools=[{"type": "function", "function": fn}], tokenize=False, add_generation_prompt=True
    )
    assert text == apply_chat_template(tok, render_invocation([fn], msgs))
    assert served.apply_chat_template(msgs, tokenize=False) == tok.apply_chat_template(msgs, tokenize=False)
    call = {"name": "get_weather", "arguments": {"city": "Paris", "days": 3, "metric": True, "unit": None}}
    hist = [
        *msgs,
        {"role": "assistant", "content": None, "tool_calls": [{"type": "function", "function": call}]},
    ]
    assert render_calls([ToolCall.from_dict(call)]) in served.apply_chat_template(hist, tokenize=False)


def test_warmup_rounds_down_so_a_small_round_trains_from_its_first_step():
    from open_toolace.training.config import TrainConfig
    from open_toolace.training.trainer import warmup_steps

    small = TrainConfig(
        per_device_train_batch_size=1, effective_batch_size=8, num_train_epochs=1, warmup_ratio=0.1
    )
    assert warmup_steps(small, 10) == 0  # 2 steps: transformers' ceil(0.2) = 1 would spend step 1 at lr 0
    assert warmup_steps(small, 400) == 5  # 50 steps
    assert warmup_steps(TrainConfig(max_steps=30, warmup_ratio=0.1), 10_000) == 3


def test_step_cap_bounds_the_steps_but_never_repeats_the_data(tmp_path):
    from open_toolace.training.config import TrainConfig
    from open_toolace.training.trainer import sft_config

    cfg = TrainConfig(
        per_device_train_batch_size=1,
        effective_batch_size=8,
        num_train_epochs=1,
        warmup_ratio=0.1,
        step_cap=25,
    )
    big = sft_config(cfg, tmp_path, 400)  # 50 steps in an epoch: capped at 25, warmup 10% of those
    assert big.max_steps == 25 and big.warmup_steps == 2
    small = sft_config(cfg, tmp_path, 40)  # 5 steps: one epoch, not 25 steps looping over 40 rows
    assert small.max_steps == -1 and small.num_train_epochs == 1 and small.warmup_steps == 0
