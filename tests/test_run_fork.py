"""`bootstrap_from`: a run that starts from another run's bootstrap copies its seed data, query pool,
adapter and bootstrap BFCL (marked `copied_from`), runs only its own rounds, and is refused when the source
made its bootstrap with other settings or has not finished it."""

from __future__ import annotations

import json

import pytest

from open_toolace.config import ConfigError
from open_toolace.io import read_json
from open_toolace.pipeline.fork import bootstrap_stages
from open_toolace.pipeline.run import run
from test_run import one_thread, scripted, tiny_cfg, write_data  # noqa: F401  (one_thread: autouse fixture)


def test_a_run_forked_from_a_bootstrap_runs_only_its_rounds(tmp_path):
    seed_file, queries = write_data(tmp_path)
    src = tmp_path / "src"
    base = ("eval.base=false",)
    run(
        tiny_cfg(tmp_path, seed_file, queries, *base, "evolve.rounds=0"), run_dir=src, make_generator=scripted
    )

    # the source has not run its bootstrap's eval yet: nothing to copy
    half = tmp_path / "half"
    cfg = tiny_cfg(tmp_path, seed_file, queries, *base, "evolve.rounds=1", f"bootstrap_from={src}")
    (half / "manifest.json").parent.mkdir()
    man = read_json(src / "manifest.json")
    del man["stages"]["eval.bootstrap"]
    (half / "manifest.json").write_text(json.dumps(man))
    (half / "config.yaml").write_text((src / "config.yaml").read_text())
    with pytest.raises(ConfigError, match="has not finished eval.bootstrap"):
        run(tiny_cfg(tmp_path, seed_file, queries, *base, "evolve.rounds=1", f"bootstrap_from={half}"),
            run_dir=tmp_path / "x", make_generator=scripted)  # fmt: skip

    # other bootstrap settings: refused, naming the setting
    other = tiny_cfg(
        tmp_path, seed_file, queries, *base, f"bootstrap_from={src}", "bootstrap.train.learning_rate=0.5"
    )
    with pytest.raises(ConfigError, match="bootstrap.train.learning_rate"):
        run(other, run_dir=tmp_path / "y", make_generator=scripted)

    fork = tmp_path / "fork"
    scores = run(cfg, run_dir=fork, make_generator=scripted)
    assert set(scores) == {"bootstrap", "r1"}
    stages = read_json(fork / "manifest.json")["stages"]
    for s in bootstrap_stages(cfg):
        assert stages[s]["copied_from"] == str(src)
    assert "copied_from" not in stages["queries"]  # the source ran no rounds: the fork made its pool
    assert "copied_from" not in stages["r1.train"] and stages["eval.r1"]["status"] == "done"
    name = "adapter_model.safetensors"
    assert (fork / "bootstrap/adapter" / name).read_bytes() == (src / "bootstrap/adapter" / name).read_bytes()
    assert not list((fork / "bootstrap").rglob("checkpoint-*"))  # the finished adapter is all a round needs
    assert read_json(fork / "eval/bootstrap/scores.json") == read_json(src / "eval/bootstrap/scores.json")
    assert scores["bootstrap"] == read_json(src / "manifest.json")["stages"]["eval.bootstrap"]["overall"]
    # resuming the finished fork copies nothing again and keeps its rounds
    assert run(cfg, run_dir=fork, make_generator=scripted) == scores
