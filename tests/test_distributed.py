"""`mtmm train` under torchrun (DistributedDataParallel over gloo), one CPU process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import shared_path

EQUIVALENCE = """
import json, os, sys
import numpy as np, torch
from mtmm_es.model.data import Corpus, Video
from mtmm_es.model.train import TrainConfig, train

rng = np.random.default_rng(0)
videos = []
for k in range(12):
    n = int(rng.integers(3, 8))
    videos.append(Video(f"v{k}", [f"v{k}_{i}" for i in range(n)],
                        {"text": rng.normal(size=(n, 6)).astype(np.float32)}, {"text": np.ones(n, bool)},
                        {"sentiment": rng.integers(0, 2, n).astype(np.float32)}, {"sentiment": np.ones(n, np.float32)}))
corpus = Corpus("synthetic", videos, {"text": {"dim": 6}})
config = TrainConfig(tasks=("sentiment",), modalities=("text",), hidden=8, dim=8, shared=(8,), epochs=3, patience=3,
                     batch_size=4, monitor="loss")
model = train(corpus, corpus, config, log=None).model
print(json.dumps({k: v.flatten()[:5].tolist() for k, v in model.state_dict().items() if v.dtype == torch.float32}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_one_process_ddp_trains_exactly_like_plain_training(tmp_path: Path) -> None:
    plain = subprocess.run([sys.executable, "-c", EQUIVALENCE], capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    env = {
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
    }
    ddp = subprocess.run([sys.executable, "-c", EQUIVALENCE], capture_output=True, text=True, env={**os.environ, **env})
    assert ddp.returncode == 0, ddp.stderr
    assert json.loads(plain.stdout) == json.loads(ddp.stdout)


@pytest.mark.slow
def test_mtmm_train_under_torchrun(tmp_path: Path) -> None:
    data = shared_path("mosi")
    out = tmp_path / "ddp-checkpoint"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "mtmm_es",
        "train",
        "--dataset",
        "mosi",
        "--data-dir",
        str(data),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--modalities",
        "text,acoustic",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "model.safetensors").is_file() and "sentiment_accuracy" in result.stdout
    assert result.stdout.count(f"checkpoint -> {out}") == 1  # regression: each process printed its report
