"""generation/malloc.py: glibc's malloc is told to keep freed memory, once, unless the user set it up."""

from __future__ import annotations

import os
import platform

import pytest

from open_toolace.generation import malloc


class FakeLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return 1


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(malloc, "_applied", False)
    for k in [k for k in os.environ if k.startswith("MALLOC_")]:
        monkeypatch.delenv(k)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    libc = FakeLibc()
    monkeypatch.setattr(malloc, "_glibc", lambda: libc)
    return libc


def test_applies_three_settings_once(fresh):
    assert malloc.keep_freed_memory() is True
    assert dict(fresh.calls) == {
        malloc.M_MMAP_THRESHOLD: 32 * 2**20,
        malloc.M_MMAP_MAX: 0,
        malloc.M_TRIM_THRESHOLD: 2**30,
        malloc.M_TOP_PAD: 64 * 2**20,
    }
    assert malloc.keep_freed_memory() is True
    assert len(fresh.calls) == 4  # not applied again


@pytest.mark.parametrize(
    "var,value", [("MALLOC_ARENA_MAX", "2"), ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")]
)
def test_users_own_settings_win(fresh, monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    assert malloc.keep_freed_memory() is False
    assert fresh.calls == []


def test_no_glibc_does_nothing(fresh, monkeypatch):
    monkeypatch.setattr(malloc, "_glibc", lambda: None)
    assert malloc.keep_freed_memory() is False


def test_a_refused_setting_is_reported(fresh, monkeypatch):
    monkeypatch.setattr(fresh, "mallopt", lambda p, v: 0)
    assert malloc.keep_freed_memory() is False
    assert malloc._applied is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_real_glibc_accepts_the_settings(monkeypatch):
    monkeypatch.setattr(malloc, "_applied", False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    for k in [k for k in os.environ if k.startswith("MALLOC_")]:
        monkeypatch.delenv(k)
    assert malloc._glibc() is not None
    assert malloc.keep_freed_memory() is True


def test_hf_backend_applies_it_on_cpu(monkeypatch):
    from open_toolace.generation import hf
    from open_toolace.models import load_model

    called = []
    monkeypatch.setattr(hf, "keep_freed_memory", lambda: called.append(1))
    model, tok = load_model("tiny-random", dtype="float32")
    hf.HFGenerator(model_obj=model, tokenizer=tok, cpu_attention=False, tune_malloc=False)
    assert called == []
    hf.HFGenerator(model_obj=model, tokenizer=tok, cpu_attention=False)
    assert called == [1]
