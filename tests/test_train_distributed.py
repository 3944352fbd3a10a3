"""`accelerate launch` with 2 CPU processes (DDP over gloo) trains tiny-random end to end (~30 s)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from open_toolace.io import write_jsonl

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_accelerate_two_cpu_processes(tmp_path):
    from test_train import sample

    samples = tmp_path / "samples.jsonl"
    write_jsonl(samples, [sample(i, pad_words=i % 5) for i in range(8)])
    out = tmp_path / "ddp"
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [
        str(accelerate),
        "launch",
        "--config_file",
        str(REPO / "configs/accelerate/cpu_2proc.yaml"),
        "--main_process_port",
        str(free_port()),
        "-m",
        "open_toolace.cli",
        "train",
        "--samples",
        str(samples),
        "--out",
        str(out),
        "--set",
        "model=tiny-random",
        "--set",
        "max_steps=4",
        "--set",
        "effective_batch_size=4",
        "--set",
        "learning_rate=1e-2",
        "--set",
        "save_steps=2",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads((out / "train_metrics.json").read_text())
    # 2 processes x micro-batch 2 = the effective batch of 4 with no accumulation
    assert m["world_size"] == 2 and m["gradient_accumulation_steps"] == 1 and m["effective_batch_size"] == 4
    assert m["global_step"] == 4 and m["last_loss"] < m["first_loss"]
    # 4 steps x 4 samples = 2 passes over the 8 samples, counted over both processes
    assert abs(m["tokens_seen"] - 2 * m["data"]["tokens"]) <= 8
    assert (out / "adapter_model.safetensors").exists() and (out / "checkpoint-4").is_dir()
    assert proc.stdout.count("done:") == 1  # only the main process reports
