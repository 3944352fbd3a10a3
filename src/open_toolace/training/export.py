"""`toolace export --merge ADAPTER OUT`: fold a LoRA adapter into its base and write a standalone checkpoint.

The result is a plain HF model dir (safetensors + config + tokenizer + generation config) that needs neither
PEFT nor this package, so vLLM can serve it:

    vllm serve OUT --enable-auto-tool-choice --tool-call-parser pythonic

Its chat template is made tool-aware: when a client sends OpenAI `tools`, the template writes them into the
same invocation system prompt the model was trained with (`prompts.render_invocation`), and earlier assistant
`tool_calls` come back in the pythonic form the model writes. Without tools it is the base template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from open_toolace.io import atomic_write_json


def export_merged(
    adapter_dir: str | Path, out_dir: str | Path, base: str | None = None, dtype: str = "float32"
) -> Path:
    """Merge `adapter_dir` (a PEFT LoRA dir) into its base (`base`, else the one it names); returns `out_dir`.

    The merge is done in fp32; `dtype` ("bfloat16", "float16") is what gets written (half the size for serving).
    """
    import torch

    from open_toolace.models import load_model

    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}.get(dtype)
    if torch_dtype is None:
        raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}")
    adapter = Path(adapter_dir)
    if not (adapter / "adapter_config.json").exists():
        raise FileNotFoundError(f"{adapter}: not a LoRA adapter dir (no adapter_config.json)")
    base = base or json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{adapter}/adapter_config.json names no base model; pass base=...")
    model, tok = load_model(base, adapter=str(adapter), dtype="float32", device="cpu")
    merged = model.merge_and_unload()
    merged = merged.to(torch_dtype)
    merged.config.use_cache = True
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Tied embeddings stay tied: safetensors stores the shared tensor once.
    merged.save_pretrained(out, safe_serialization=True)
    tok.padding_side = "left"
    from open_toolace.prompts import save_prompt_format, saved_prompt_set

    trained_with = saved_prompt_set(adapter)  # the served prompt is the one the model was trained on
    if tok.chat_template:
        tok.chat_template = tool_chat_template(tok.chat_template, trained_with)
    tok.save_pretrained(out)
    if trained_with:
        save_prompt_format(out, trained_with)
    atomic_write_json(
        out / "open_toolace_export.json",
        {"base": base, "adapter": str(adapter.resolve()), "dtype": dtype},
    )
    return out


# Jinja prepended to the base chat template. `{prefix}`/`{suffix}` surround the tool list in the invocation system
# prompt; HF's `tojson` is `json.dumps` with default separators, i.e. exactly `prompts.format_tools`.
_TOOLS_PREAMBLE = """{%- macro _pyval(v) -%}
{%- if v is string -%}{{ v | tojson }}{%- elif v is boolean -%}{{ 'True' if v else 'False' }}
{%- elif v is none -%}None{%- elif v is number -%}{{ v }}{%- else -%}{{ v | tojson }}{%- endif -%}
{%- endmacro -%}
{%- if tools is defined and tools -%}
{%- set ns = namespace(lines=[]) -%}
{%- for t in tools -%}{%- set f = t.function if t.function is defined else t -%}
{%- set ns.lines = ns.lines + [{'name': f.name, 'description': f.description or '', 'parameters': f.parameters} | tojson] -%}
{%- endfor -%}
{%- set _sys = __PREFIX__ + '[\n' + ns.lines | join(',\n') + '\n]' + __SUFFIX__ -%}
{%- if messages and messages[0].role == 'system' -%}
{%- set messages = [{'role': 'system', 'content': _sys + '\n\n' + messages[0].content}] + messages[1:] -%}
{%- else -%}{%- set messages = [{'role': 'system', 'content': _sys}] + messages -%}{%- endif -%}
{%- endif -%}
{%- set ns2 = namespace(out=[]) -%}
{%- for m in messages -%}
{%- if m.tool_calls is defined and m.tool_calls -%}
{%- set ns3 = namespace(calls=[]) -%}
{%- for c in m.tool_calls -%}{%- set f = c.function if c.function is defined else c -%}
{%- set ns4 = namespace(args=[]) -%}
{%- if f.arguments is mapping -%}{%- for k, v in f.arguments.items() -%}
{%- set ns4.args = ns4.args + [k ~ '=' ~ _pyval(v)] -%}{%- endfor -%}{%- endif -%}
{%- set ns3.calls = ns3.calls + [f.name ~ '(' ~ ns4.args | join(', ') ~ ')'] -%}
{%- endfor -%}
{%- set ns2.out = ns2.out + [{'role': m.role, 'content': '[' ~ ns3.calls | join(', ') ~ ']'}] -%}
{%- else -%}{%- set ns2.out = ns2.out + [{'role': m.role, 'content': m.content or ''}] -%}{%- endif -%}
{%- endfor -%}
{%- set messages = ns2.out -%}
"""


def tool_chat_template(base_template: str, prompts: Any = None) -> str:
    """`base_template` with the invocation system prompt filled from OpenAI `tools` (see module doc), in the
    tool-doc format of `prompts` (a set name or mapping; JSON for `bfcl`, Python stubs for `lean`)."""
    from open_toolace.prompts import get_prompts, tool_format

    system = get_prompts(prompts)["invocation"]["system"]
    if "{functions}" not in system:
        raise ValueError("the invocation system prompt has no {functions} placeholder")
    prefix, suffix = system.split("{functions}", 1)
    preamble = _TOOLS_PREAMBLE.replace("__PREFIX__", json.dumps(prefix)).replace(
        "__SUFFIX__", json.dumps(suffix)
    )
    if tool_format(prompts) == "python":
        macros = (Path(__file__).parent / "python_tools.jinja").read_text(encoding="utf-8")
        preamble = macros + preamble.replace(
            "{%- set ns.lines = ns.lines + [{'name': f.name, 'description': f.description or '', 'parameters': "
            "f.parameters} | tojson] -%}",
            "{%- set ns.lines = ns.lines + [_stub(f)] -%}",
        ).replace("'[\n' + ns.lines | join(',\n') + '\n]'", "ns.lines | join('\n\n')")
    return preamble + base_template
