"""`dtype: auto` and `threads: auto` (open_toolace.hardware) with the machine's capabilities mocked both ways."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from open_toolace import hardware
from open_toolace.config import load_config
from open_toolace.pipeline.config import RunConfig

REPO = Path(__file__).resolve().parents[1]
AVX2 = ("Laptop CPU", frozenset({"avx", "avx2", "fma"}))
BF16 = ("Server CPU", frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}))


@pytest.fixture()
def cpu(monkeypatch):
    """cpu(flags, capability): pretend to be that CPU (and that no CUDA device is there)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)

    def pretend(info, capability="AVX512"):
        monkeypatch.setattr(hardware, "_cpuinfo", lambda: info)
        monkeypatch.setattr(hardware, "_torch_capability", lambda: capability)

    return pretend


def test_auto_is_bf16_only_with_native_bf16(cpu, monkeypatch):
    cpu(AVX2, "AVX2")
    assert hardware.resolve_dtype("auto", "cpu") == "float32" and not hardware.bf16_is_fast()
    cpu(BF16)
    assert hardware.resolve_dtype("auto", "cpu") == "bfloat16" and hardware.bf16_is_fast()
    assert hardware.resolve_dtype(None) == "bfloat16"
    # the flags are there, but the kernels are kept from them
    cpu(BF16, "AVX2")  # ATEN_CPU_CAPABILITY=avx2
    assert hardware.resolve_dtype("auto", "cpu") == "float32"
    cpu(BF16)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert hardware.resolve_dtype("auto", "cpu") == "float32"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx512_core_amx")
    assert hardware.resolve_dtype("auto", "cpu") == "bfloat16"


def test_explicit_dtypes_pass_and_unknown_ones_fail(cpu):
    cpu(AVX2, "AVX2")
    assert hardware.resolve_dtype("bf16") == "bfloat16"  # asked for: honoured, even where it is slow
    assert hardware.resolve_dtype("float32") == "float32"
    with pytest.raises(ValueError, match="unknown dtype"):
        hardware.resolve_dtype("int8")


def test_cuda_with_bf16_is_bf16(monkeypatch, cpu):
    import torch

    cpu(AVX2, "AVX2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert hardware.resolve_dtype("auto", "cuda") == "bfloat16"
    assert hardware.resolve_dtype("auto", "cpu") == "float32"


def test_demo_config_resolves_to_fp32_without_native_bf16(cpu):
    cfg = load_config(RunConfig, REPO / "configs" / "demo.yaml", [])
    asked = cfg.backend_args.get("dtype")
    cpu(AVX2, "AVX2")
    assert hardware.resolve_dtype(asked, "cpu") == "float32"
    cpu(BF16)
    assert hardware.resolve_dtype(asked, "cpu") == "bfloat16"
    assert cfg.bootstrap.train.use_bf16() and cfg.evolve.train.use_bf16()
    cpu(AVX2, "AVX2")
    assert not cfg.bootstrap.train.use_bf16(), "the trainer shares the decision"
    for path in (REPO / "configs").glob("*.yaml"):  # no shipped config forces a dtype
        assert "dtype: bfloat16" not in path.read_text() and "bf16: true" not in path.read_text(), path


def test_load_model_auto_follows_the_decision(cpu):
    import torch

    from open_toolace.models import load_model

    cpu(AVX2, "AVX2")
    assert next(load_model("tiny-random")[0].parameters()).dtype == torch.float32
    cpu(BF16)
    assert next(load_model("tiny-random")[0].parameters()).dtype == torch.bfloat16


def test_threads_auto_leaves_a_busy_core_alone(monkeypatch):
    monkeypatch.setattr(hardware.os, "cpu_count", lambda: 2)
    assert hardware.resolve_threads("auto", busy=0.05) == 2
    assert hardware.resolve_threads("auto", busy=1.0) == 1
    assert hardware.resolve_threads("auto", busy=0.75) == 1
    assert hardware.resolve_threads("auto", busy=1.9) == 1  # never below one
    monkeypatch.setattr(hardware.os, "cpu_count", lambda: 8)
    assert hardware.resolve_threads("auto", busy=2.0) == 6
    assert hardware.resolve_threads(3) == 3 and hardware.resolve_threads("3") == 3
    with pytest.raises(ValueError):
        hardware.resolve_threads(0)


def test_machine_record(cpu):
    cpu(AVX2, "AVX2")
    info = hardware.machine_info("float32")
    assert info["cpu"] == "Laptop CPU" and info["native_bf16"] is False and info["avx512"] is False
    assert info["dtype"] == "float32" and info["torch_threads"] >= 1 and info["torch_capability"] == "AVX2"
    assert "no native bf16" in hardware.machine_line(info)
    cpu(BF16, "AVX2")
    assert "kernels capped" in hardware.machine_line(hardware.machine_info())


def test_generator_is_released_before_training():
    """No generator weights reach the trainer: `Generators.release` drops the only reference."""
    from open_toolace.generation.fake import FakeGenerator
    from open_toolace.pipeline.manifest import Generators

    built = []

    def make(backend, model, adapter=None, **kw):
        built.append(FakeGenerator())
        return built[-1]

    gens = Generators(make, "fake", "m", {})
    ref = weakref.ref(gens.get(None))
    assert gens.get(None) is ref() and len(built) == 1, "one live generator, reused"
    gens.get("adapter")  # another adapter: the old one is dropped first
    assert len(built) == 2
    built.clear()
    gc.collect()
    assert ref() is None
    gens.release()
    assert gens._gen is None
