"""`toolace export --merge ADAPTER OUT`: fold a LoRA adapter into its base and write a standalone checkpoint.

The result is a plain HF model dir (safetensors + config + tokenizer + generation config) that needs neither
PEFT nor this package, so vLLM can serve it:

    vllm serve OUT --enable-auto-tool-choice --tool-call-parser pythonic
"""

from __future__ import annotations

import json
from pathlib import Path

from open_toolace.io import atomic_write_json


def export_merged(adapter_dir: str | Path, out_dir: str | Path, base: str | None = None) -> Path:
    """Merge `adapter_dir` (a PEFT LoRA dir) into its base (`base`, else the one it names); returns `out_dir`."""
    import torch

    from open_toolace.models import load_model

    adapter = Path(adapter_dir)
    if not (adapter / "adapter_config.json").exists():
        raise FileNotFoundError(f"{adapter}: not a LoRA adapter dir (no adapter_config.json)")
    base = base or json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{adapter}/adapter_config.json names no base model; pass base=...")
    model, tok = load_model(base, adapter=str(adapter), dtype="float32", device="cpu")
    merged = model.merge_and_unload()
    merged.config.use_cache = True
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Tied embeddings stay tied: safetensors stores the shared tensor once.
    merged.save_pretrained(out, safe_serialization=True)
    tok.padding_side = "left"
    tok.save_pretrained(out)
    atomic_write_json(
        out / "open_toolace_export.json",
        {"base": base, "adapter": str(adapter.resolve()), "dtype": str(torch.float32)},
    )
    return out
