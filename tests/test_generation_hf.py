"""hf backend on the tiny random model: batching/padding is invisible, order kept, n samples, seeds, stops."""

from __future__ import annotations

import pytest
import torch

from open_toolace.generation import Sampling
from open_toolace.generation.batching import StopOnText, plan_batches
from open_toolace.generation.hf import HFGenerator
from open_toolace.models import load_model
from open_toolace.prompts import apply_chat_template

# Prompts of clearly different lengths, so length-sorting reorders them and batches need padding.
REQS = [[{"role": "user", "content": "tell me " * k + "something"}] for k in (1, 9, 3, 14, 5)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # A tiny model gains nothing from intra-op threads, and on a shared 2-core box the thread handoff
    # made each step ~5x slower.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def model_tok():
    # tiny-random's default init gives near-uniform logits (greedy repeats one token); a wider init makes
    # greedy text vary with the prompt, so "same output" assertions can fail when padding is wrong.
    model, tok = load_model("tiny-random", dtype="float32")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) * (0.5 if "embed" in name else 0.25))
    return model, tok


def make(model_tok, **kw):
    model, tok = model_tok
    kw.setdefault("stop_at_call_end", False)
    return HFGenerator(model_obj=model, tokenizer=tok, **kw)


def test_plan_batches_sorts_by_length_and_respects_budget():
    assert plan_batches([5, 50, 20, 40], n=1, max_new_tokens=10, batch_size=2, max_batch_tokens=None) == [
        [1, 3],
        [2, 0],
    ]
    # 2 rows x (50 + 10) = 120 > 100: the long prompt goes alone
    assert plan_batches([5, 50, 20], n=2, max_new_tokens=10, batch_size=8, max_batch_tokens=100) == [
        [1],
        [2],
        [0],
    ]


def test_left_padding_and_order_preserved(model_tok):
    model, tok = model_tok
    assert tok.padding_side == "left"
    batched = make(model_tok, batch_size=3).generate(REQS, Sampling(max_new_tokens=10), progress=False)
    single = make(model_tok, batch_size=1).generate(REQS, Sampling(max_new_tokens=10), progress=False)
    assert batched == single  # padding + sorting change nothing, results come back in request order
    assert len({o[0] for o in single}) > 2  # the prompts really give different outputs


def test_greedy_is_deterministic_and_n_copies(model_tok):
    g = make(model_tok, batch_size=4)
    a = g.generate(REQS, Sampling(n=3, max_new_tokens=8, seed=1), progress=False)
    b = g.generate(REQS, Sampling(n=3, max_new_tokens=8, seed=2), progress=False)
    assert a == b and all(len(o) == 3 and len(set(o)) == 1 for o in a)


def test_sampling_n_samples_seeded(model_tok):
    g = make(model_tok, batch_size=4)
    s = Sampling(n=4, temperature=1.0, top_k=50, max_new_tokens=8)
    a = g.generate(REQS, s.with_(seed=7), progress=False)
    b = g.generate(REQS, s.with_(seed=7), progress=False)
    c = g.generate(REQS, s.with_(seed=8), progress=False)
    assert len(a) == len(REQS) and all(len(o) == 4 for o in a)
    assert a == b and a != c
    assert any(len(set(o)) > 1 for o in a)  # samples differ from each other


def test_shared_prompt_cache_matches_plain_generate(model_tok):
    # top_k=1 sampling is greedy but takes the n>1 sampling path (prompt cache repeated n times).
    kw = dict(sampling=Sampling(n=2, temperature=1.0, top_k=1, max_new_tokens=8), progress=False)
    shared = make(model_tok, batch_size=3).generate(REQS, **kw)
    plain = make(model_tok, batch_size=3, share_prompt_cache=False).generate(REQS, **kw)
    greedy = make(model_tok, batch_size=1).generate(REQS, Sampling(max_new_tokens=8), progress=False)
    assert shared == plain
    assert [o[0] for o in shared] == [o[0] for o in greedy]


def test_stop_string_trims_and_stops(model_tok):
    g = make(model_tok, batch_size=2)
    full = g.generate(REQS[:2], Sampling(max_new_tokens=12), progress=False)
    text = full[0][0]
    stop = text[len(text) // 2 : len(text) // 2 + 2]
    cut = g.generate(REQS[:2], Sampling(max_new_tokens=12, stop=[stop]), progress=False)
    assert cut[0][0] == text[: text.find(stop)]
    assert stop not in cut[0][0]


def test_stop_criterion_on_call_end_and_strings(model_tok):
    _, tok = model_tok
    prompt = tok("prompt", add_special_tokens=False)["input_ids"]
    rows = ["[f(a=[1, 2])] more", "[f(a=1", "say STOP now"]
    ids = [prompt + tok(t, add_special_tokens=False)["input_ids"] for t in rows]
    width = max(map(len, ids))
    batch = torch.tensor([x + [tok.pad_token_id] * (width - len(x)) for x in ids])
    crit = StopOnText(tok, len(prompt), ["STOP"], call_end=True)
    assert crit(batch, None).tolist() == [True, False, True]


def test_empty_and_bad_n(model_tok):
    g = make(model_tok)
    assert g.generate([], progress=False) == []
    with pytest.raises(ValueError):
        g.generate(REQS, Sampling(n=0))


def test_make_generator_hf_tiny_random():
    from open_toolace.generation import make_generator

    g = make_generator("hf", "tiny-random", batch_size=2)
    out = g.generate(REQS[:3], Sampling(n=2, temperature=1.0, max_new_tokens=4), progress=False)
    assert [len(o) for o in out] == [2, 2, 2]


def test_peft_model_shared_cache_matches_plain(model_tok):
    import copy

    from peft import LoraConfig, get_peft_model

    base, tok = model_tok
    model = get_peft_model(
        copy.deepcopy(base), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    kw = dict(sampling=Sampling(n=2, temperature=1.0, top_k=1, max_new_tokens=6), progress=False)
    shared = HFGenerator(model_obj=model, tokenizer=tok, batch_size=3, stop_at_call_end=False).generate(
        REQS, **kw
    )
    plain = HFGenerator(
        model_obj=model, tokenizer=tok, batch_size=3, stop_at_call_end=False, share_prompt_cache=False
    ).generate(REQS, **kw)
    assert shared == plain
    assert shared != make(model_tok, batch_size=3).generate(REQS, **kw)  # the adapter is really applied


# A system prompt long enough that every request shares > MIN_SHARED_PREFIX tokens.
SYSTEM = {"role": "system", "content": "You call tools. " * 12}
SHARED_REQS = [[SYSTEM, *r] for r in REQS]


def test_shared_prefix_len():
    from open_toolace.generation.kv_cache import shared_prefix_len

    assert shared_prefix_len([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]], minimum=1) == 2
    assert shared_prefix_len([[1, 2, 3], [1, 2, 3]], minimum=1) == 2  # each keeps one token of its own
    assert shared_prefix_len([[1, 2, 3], [1, 2, 3]], minimum=3) == 0
    assert shared_prefix_len([[7, 1], [8, 1]], minimum=0) == 0


def test_cpu_decode_attention_matches_sdpa():
    from types import SimpleNamespace

    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from open_toolace.generation.cpu_attention import cpu_decode_attention

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(shape, generator=g) for shape in [(3, 6, 1, 8), (3, 2, 10, 8), (3, 2, 10, 8)])
    mask = torch.ones(3, 1, 1, 10, dtype=torch.bool)
    mask[1, ..., :4] = False  # a left-padded row
    mask[2, ..., 3:6] = False  # padding between a shared prefix and the row's own tokens
    module = SimpleNamespace(num_key_value_groups=3, is_causal=True)
    for m in (mask, None):
        ours, _ = cpu_decode_attention(module, q, k, v, m, scaling=0.3)
        ref, _ = sdpa_attention_forward(module, q, k, v, m, scaling=0.3)
        assert ours.shape == ref.shape == (3, 1, 6, 8)
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    masked = cpu_decode_attention(module, q, k, v, mask, scaling=0.3)[0]
    assert not torch.allclose(masked, cpu_decode_attention(module, q, k, v, None, scaling=0.3)[0])


@pytest.mark.parametrize("n,chunk,share", [(1, None, True), (2, None, True), (1, 3, True), (1, None, False)])
def test_prefix_static_cache_and_cpu_attention_match_plain(model_tok, n, chunk, share):
    """The fast path (shared prefix, chunked prefill, static cache, CPU decode attention) changes no output."""
    import copy

    from open_toolace.generation.kv_cache import shared_prefix_len
    from open_toolace.prompts import apply_chat_template

    model, tok = model_tok
    ids = [tok(apply_chat_template(tok, r), add_special_tokens=False)["input_ids"] for r in SHARED_REQS]
    assert shared_prefix_len(ids) > 16  # the prefix path really runs
    kw = dict(sampling=Sampling(n=n, temperature=1.0, top_k=1, max_new_tokens=8), progress=False)
    fast_gen = HFGenerator(
        model_obj=copy.deepcopy(model),
        tokenizer=tok,
        batch_size=4,
        prefill_rows=2,
        prefill_chunk=chunk,  # 3: several column chunks per prompt
        share_prefix=share,  # False: plain left padding
        stop_at_call_end=False,
    )
    widths = []  # tokens per forward: the prefix once, then prefill chunks, then 1 per decode step
    fast_gen.model.register_forward_pre_hook(
        lambda m, a, kw: widths.append(kw["input_ids"].shape[1]), with_kwargs=True
    )
    assert fast_gen.static_cache and fast_gen.share_prefix == share
    assert fast_gen.model.config._attn_implementation == "sdpa_cpu"
    plain_model = copy.deepcopy(model)
    plain_model.set_attn_implementation("sdpa")  # earlier generators switched the shared fixture model
    plain_gen = HFGenerator(
        model_obj=plain_model,
        tokenizer=tok,
        batch_size=4,
        share_prefix=False,
        static_cache=False,
        cpu_attention=False,
        stop_at_call_end=False,
    )
    assert plain_gen.model.config._attn_implementation == "sdpa"
    fast, plain = fast_gen.generate(SHARED_REQS, **kw), plain_gen.generate(SHARED_REQS, **kw)
    assert fast == plain
    assert len({o[0] for o in fast}) > 2
    rest = sorted(widths)[:-1] if share else widths  # all but the prefix's forward
    assert max(rest) <= 3 if chunk else max(rest) > 3
    if not chunk:
        # batch [14, 9, 5, 3] ("tell me" x k) + [1]: the pair (5, 3) starts at its own first token, so its
        # forward is narrower than the (14, 9) pair's (without skipping: 2 prefill widths in all)
        assert len(set(rest) - {1}) == 3


def test_sliding_window_models_keep_the_plain_cache():
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from open_toolace.generation.kv_cache import full_attention_only

    _, tok = load_model("tiny-random", dtype="float32")
    cfg = Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=8,
                           layer_types=["sliding_attention", "full_attention"])  # fmt: skip
    model = Gemma3ForCausalLM(cfg).eval()
    assert not full_attention_only(cfg)
    gen = HFGenerator(model_obj=model, tokenizer=tok, stop_at_call_end=False)
    assert not gen.static_cache and not gen.share_prefix
    out = gen.generate(SHARED_REQS[:2], Sampling(max_new_tokens=4), progress=False)
    assert [len(o) for o in out] == [1, 1]


def plain_generator(model, tok) -> HFGenerator:
    """One batch, one generate() call, transformers' own cache and attention: what the fast paths must match."""
    import copy

    plain_model = copy.deepcopy(model)
    plain_model.set_attn_implementation("sdpa")  # earlier generators switched the shared fixture model
    return HFGenerator(model_obj=plain_model, tokenizer=tok, batch_size=8, decode_segment=None, share_prefix=False,
                       static_cache=False, cpu_attention=False, stop_at_call_end=False)  # fmt: skip


def test_segmented_decode_drops_stopped_rows_without_changing_outputs(model_tok, monkeypatch):
    import copy

    import open_toolace.generation.kv_cache as kv_cache

    model, tok = model_tok
    plain = plain_generator(model, tok)
    kw = dict(progress=False)
    s = Sampling(max_new_tokens=12)
    full = plain.generate(SHARED_REQS, s, **kw)
    text = full[0][0]
    stop = [text[4:6]]  # ends row 0 after a few tokens; most others run to the cap
    selected = []
    real = kv_cache.select_rows
    monkeypatch.setattr(kv_cache, "select_rows", lambda c, keep: selected.append(len(keep)) or real(c, keep))
    for static in (True, False):
        fast = HFGenerator(model_obj=copy.deepcopy(model), tokenizer=tok, batch_size=8, decode_segment=3,
                           static_cache=static, stop_at_call_end=False)  # fmt: skip
        assert fast.generate(SHARED_REQS, s.with_(stop=stop), **kw) == plain.generate(
            SHARED_REQS, s.with_(stop=stop), **kw
        )
        assert fast.generate(SHARED_REQS, s, **kw) == full
    assert selected and min(selected) < len(SHARED_REQS)  # stopped rows really left the batch


def test_select_rows_compacts_a_static_cache_in_place():
    from transformers import StaticCache

    from open_toolace.generation import kv_cache
    from open_toolace.models import load_model

    model, _ = load_model("tiny-random", dtype="float32")
    cache = StaticCache(config=model.config, max_cache_len=7)
    layers = len(cache.layers)
    keys = [torch.randn(5, 2, 4, 8) for _ in range(layers)]
    for i, k in enumerate(keys):
        cache.update(k, -k, i)
    before = [(layer.keys.clone(), layer.keys.data_ptr()) for layer in cache.layers]
    out = kv_cache.select_rows(cache, torch.tensor([1, 3, 4]))
    for layer, (full, ptr) in zip(out.layers, before, strict=True):
        assert layer.keys.shape[0] == layer.values.shape[0] == 3
        torch.testing.assert_close(layer.keys, full[[1, 3, 4]])
        torch.testing.assert_close(layer.values, -full[[1, 3, 4]])
        assert layer.keys.data_ptr() == ptr  # no new allocation
    assert int(out.get_seq_length()) == 4
    with pytest.raises(ValueError, match="sorted"):
        kv_cache.select_rows(out, torch.tensor([2, 0]))


def test_stop_runaway_cuts_looping_rows_to_a_prefix():
    # tiny-random's own init gives near-uniform logits: greedy repeats one token, a loop to the cap.
    model, tok = load_model("tiny-random", dtype="float32")
    sampling = Sampling(max_new_tokens=64)
    kw = dict(model_obj=model, tokenizer=tok, stop_at_call_end=False, decode_segment=16)
    full = HFGenerator(**kw).generate(REQS, sampling, progress=False)
    gen = HFGenerator(**kw, stop_runaway=True)
    cut = gen.generate(REQS, sampling, progress=False)
    assert gen.runaway_stops == len(REQS)
    for (a,), (b,) in zip(full, cut, strict=True):
        assert b and a.startswith(b) and 2 * len(b) <= len(a)  # stopped at a boundary that saw the loop


def test_sampling_stop_runaway_overrides_the_generator_default():
    model, tok = load_model("tiny-random", dtype="float32")
    gen = HFGenerator(model_obj=model, tokenizer=tok, stop_at_call_end=False, decode_segment=16)
    full = gen.generate(REQS[:2], Sampling(max_new_tokens=64), progress=False)
    cut = gen.generate(REQS[:2], Sampling(max_new_tokens=64, stop_runaway=True), progress=False)
    assert gen.runaway_stops == 2 and all(len(b[0]) < len(a[0]) for a, b in zip(full, cut, strict=True))
    with pytest.raises(ValueError):
        Sampling(repetition_penalty=0)


def test_profile_counts_prefill_and_decode_work():
    # 5 prompts of different lengths, batches of 2, every row decodes to the cap (tiny-random loops):
    # decode row-steps are rows x new tokens, prefill tokens are the prompts' own (no shared prefix).
    model, tok = load_model("tiny-random", dtype="float32")
    gen = HFGenerator(
        model_obj=model,
        tokenizer=tok,
        stop_at_call_end=False,
        decode_segment=4,
        batch_size=2,
        share_prefix=False,
    )
    gen.generate(REQS, Sampling(max_new_tokens=8), progress=False)
    prof = gen.profile
    lengths = [len(tok(apply_chat_template(tok, r), add_special_tokens=False)["input_ids"]) for r in REQS]
    assert prof["batches"] == 3
    assert prof["prefill_tokens"] == sum(lengths)
    assert prof["decode_row_steps"] == 8 * len(REQS) and prof["decode_steps"] == 3 * 8
    assert prof["decode_calls"] == 3 * 2  # 8 tokens in segments of 4
    assert prof["prefill_s"] > 0 and prof["decode_s"] >= prof["stop_check_s"] > 0


@pytest.mark.parametrize("n", [1, 2])
def test_deferred_rows_go_on_together_without_changing_outputs(model_tok, n):
    # Batches of 2 prompts with decode segments of 3: once a batch is down to one prompt's n live rows, they
    # are set aside and decoded at the end with the other batches' last rows, from the prompt + the tokens
    # written so far.
    import copy

    model, tok = model_tok
    plain = plain_generator(model, tok)
    s = Sampling(n=n, temperature=1.0 if n > 1 else 0.0, top_k=1, max_new_tokens=12)
    full = plain.generate(SHARED_REQS, s, progress=False)
    stops = [[t[4:6]] for (t, *_) in full[:3]]  # each ends some rows early, so batches shrink to one row
    for stop in stops:
        want = plain.generate(SHARED_REQS, s.with_(stop=stop), progress=False)
        fast = HFGenerator(model_obj=copy.deepcopy(model), tokenizer=tok, batch_size=2, decode_segment=3,
                           defer_rows=n, stop_at_call_end=False)  # fmt: skip
        assert fast.generate(SHARED_REQS, s.with_(stop=stop), progress=False) == want
        if fast.profile["deferred_rows"]:
            break
    assert fast.profile["deferred_rows"] > 0  # some row really went on in the final batch
    off = HFGenerator(model_obj=copy.deepcopy(model), tokenizer=tok, batch_size=2, decode_segment=3,
                      defer_rows=None, stop_at_call_end=False)  # fmt: skip
    assert off.generate(SHARED_REQS, s.with_(stop=stop), progress=False) == want
    assert off.profile["deferred_rows"] == 0
