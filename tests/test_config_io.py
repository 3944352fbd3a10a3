"""Config loading (YAML + overrides) and the atomic file / manifest helpers every stage relies on."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from open_toolace.config import ConfigError, load_config, parse_overrides, save_config
from open_toolace.io import (
    DataFileError,
    DirBusyError,
    Manifest,
    atomic_write_json,
    dir_lock,
    iter_jsonl,
    read_jsonl,
    write_jsonl,
)


@dataclass
class Inner:
    lr: float = field(default=1e-4, metadata={"help": "learning rate"})
    cats: list[str] = field(default_factory=lambda: ["simple_python"], metadata={"help": "categories"})


@dataclass
class Outer:
    name: str = field(default="x", metadata={"help": "run name"})
    rounds: int = field(default=2, metadata={"help": "rounds"})
    inner: Inner = field(default_factory=Inner, metadata={"help": "section"})


def test_overrides_are_typed_and_nested():
    tree = parse_overrides(["rounds=3", "--inner.lr=0.0003", "inner.cats=[a,b]", "--name", "demo"])
    assert tree == {"rounds": 3, "inner": {"lr": 0.0003, "cats": ["a", "b"]}, "name": "demo"}


def test_yaml_then_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: from-yaml\ninner:\n  lr: 0.5\n")
    cfg = load_config(Outer, p, ["rounds=7"])
    assert cfg.name == "from-yaml" and cfg.rounds == 7
    assert cfg.inner.lr == 0.5 and cfg.inner.cats == ["simple_python"]  # untouched nested default kept
    out = save_config(cfg, tmp_path / "out" / "config.yaml")
    assert load_config(Outer, out) == cfg  # the saved resolved config reproduces the run


def test_unknown_keys_are_rejected_with_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="unknown key.*'roundz'.*known"):
        load_config(Outer, None, ["roundz=1"])
    with pytest.raises(ConfigError, match="inner.*'lrr'"):
        load_config(Outer, None, ["inner.lrr=1"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(Outer, tmp_path / "missing.yaml")


def test_jsonl_roundtrip_and_bad_line(tmp_path):
    p = tmp_path / "a.jsonl"
    assert write_jsonl(p, [{"a": 1}, {"b": "é"}]) == 2
    assert read_jsonl(p) == [{"a": 1}, {"b": "é"}]
    p.write_text('{"a": 1}\n{broken\n')
    with pytest.raises(DataFileError, match=r"a\.jsonl:2"):
        list(iter_jsonl(p))
    assert not list(tmp_path.glob(".*.tmp"))  # no temp files left behind


def test_manifest_marks_stages_done(tmp_path):
    m = Manifest.open(tmp_path)
    assert not m.is_done("seed")
    m.mark_done("seed", n=5)
    assert Manifest.open(tmp_path).is_done("seed")
    assert json.loads((tmp_path / "manifest.json").read_text())["stages"]["seed"]["n"] == 5
    atomic_write_json(tmp_path / "x.json", {"k": [1, 2]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"k": [1, 2]}


def test_scalars_take_the_declared_type():
    cfg = load_config(Outer, None, ["inner.lr=3e-4", "rounds=4"])  # YAML 1.1 reads 3e-4 as a string
    assert cfg.inner.lr == 3e-4 and isinstance(cfg.inner.lr, float)
    with pytest.raises(ConfigError, match="rounds"):
        load_config(Outer, None, ["rounds=many"])


def test_a_partial_section_keeps_the_fields_own_defaults():
    from open_toolace.pipeline.config import RunConfig
    from open_toolace.refine.config import ToolaceRConfig

    # the round's TrainConfig is 1 epoch / batch 16, not TrainConfig's 3 epochs
    cfg = load_config(ToolaceRConfig, None, ["train.learning_rate=2e-4"])
    assert (
        cfg.train.num_train_epochs == ToolaceRConfig().train.num_train_epochs
        and cfg.train.learning_rate == 2e-4
    )
    run = load_config(RunConfig, None, ["evolve.train.learning_rate=1e-4", "evolve.mix.distractors_max=3"])
    assert run.evolve.train.num_train_epochs == RunConfig().evolve.train.num_train_epochs
    assert run.evolve.mix.abstention_share == RunConfig().evolve.mix.abstention_share
    assert run.evolve.mix.distractors_max == 3


def test_stage_decides_auto_threads_again_at_its_start(tmp_path, monkeypatch):
    # a run that started beside another job (1 thread) takes all cores once the machine is quiet
    import torch

    from open_toolace import hardware
    from open_toolace.io import Manifest
    from open_toolace.pipeline.manifest import Ctx, Generators

    before = torch.get_num_threads()
    seen = []
    monkeypatch.setattr(hardware, "resolve_threads", lambda t: 1)
    gens = Generators(lambda *a, **k: None, "fake", "m", {})
    try:
        torch.set_num_threads(2)
        Ctx(tmp_path, Manifest.open(tmp_path), gens).stage("a", lambda: seen.append(torch.get_num_threads()))
        auto = Ctx(tmp_path, Manifest.open(tmp_path), gens, threads="auto")
        auto.stage("b", lambda: seen.append(torch.get_num_threads()))
        assert seen == [2, 1]
    finally:
        torch.set_num_threads(before)


def test_dir_lock_refuses_a_second_holder_and_frees_on_exit_or_kill(tmp_path):
    busy = pytest.raises(DirBusyError, match=r"in use by another process \(pid \d+\)")
    with dir_lock(tmp_path), busy, dir_lock(tmp_path):  # the second holder is refused
        pass
    with dir_lock(tmp_path):  # released on exit
        pass
    # a holder killed while it holds the lock leaves nothing stale behind
    code = "import sys, time; from open_toolace.io import dir_lock\nwith dir_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(DirBusyError, match=f"pid {proc.pid}"), dir_lock(tmp_path):
            pass
    finally:
        proc.kill()
        proc.wait()
    with dir_lock(tmp_path):
        pass
