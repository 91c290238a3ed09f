"""Seconds per training epoch on CMU-MOSI and on a synthetic CMU-MOSEI-sized set (target: <= 10 s).

    python benchmarks/train_speed.py [--mosi-dir ../shared/data/mosi] [--epochs 3]

MOSEI-sized: 2,250 videos, 23k utterances (10.3 per video on average, as MOSEI), GloVe 300-d,
COVAREP 74-d and FACET 35-d random features, sentiment + emotion labels. The model is the
default tri-modal multi-task network; an epoch is one pass of optimisation over the training
videos (validation excluded). Prints one JSON object as its last line (medians over epochs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtmm_es.model.data import Corpus, Video, batches, collate  # noqa: E402
from mtmm_es.model.train import TrainConfig, batch_loss, build_model, seed_everything  # noqa: E402


def synthetic_mosei(videos: int = 2250, utterances: int = 23_000, seed: int = 0) -> Corpus:
    rng = np.random.default_rng(seed)
    dims = {"text": 300, "acoustic": 74, "visual": 35}
    lengths = rng.multinomial(utterances - videos, np.ones(videos) / videos) + 1
    items = []
    for k, n in enumerate(lengths):
        items.append(
            Video(
                id=f"s{k}",
                utterance_ids=[f"s{k}_{i}" for i in range(n)],
                features={m: rng.normal(size=(n, d)).astype(np.float32) for m, d in dims.items()},
                masks={m: np.ones(n, bool) for m in dims},
                targets={
                    "sentiment": rng.integers(0, 2, n).astype(np.float32),
                    "emotion": rng.integers(0, 2, (n, 7)).astype(np.float32),
                },
                weights={"sentiment": np.ones(n, np.float32), "emotion": np.ones(n, np.float32)},
            )
        )
    spec = {m: {"dim": d} for m, d in dims.items()}
    return Corpus("synthetic-mosei", items, spec)


def epoch_seconds(corpus: Corpus, config: TrainConfig, epochs: int) -> list[float]:
    seed_everything(config.seed)
    model = build_model(config, corpus)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    rng = np.random.default_rng(0)
    dims = model.config.input_dims
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        for group in batches(corpus.videos, config.batch_size, rng):
            loss = batch_loss(model, collate(group, config.modalities, config.tasks, dims), {})
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mosi-dir", type=Path, default=Path("../shared/data/mosi"))
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    results = {"threads": torch.get_num_threads()}
    if (args.mosi_dir / "train_utterances.csv").is_file():
        from mtmm_es.model.corpora.mosi import load_mosi
        from mtmm_es.model.recipes import load_recipe

        mosi = load_mosi(args.mosi_dir)
        times = epoch_seconds(mosi, load_recipe("mosi").train, args.epochs)
        results["mosi_s_per_epoch"] = statistics.median(times)
        print(f"MOSI ({mosi.n_utterances()} utterances): {[round(t, 2) for t in times]} s per epoch")
    mosei = synthetic_mosei()
    config = replace(TrainConfig(), tasks=("sentiment", "emotion"))
    times = epoch_seconds(mosei, config, args.epochs)
    results["mosei_sized_s_per_epoch"] = statistics.median(times)
    print(f"MOSEI-sized ({mosei.n_utterances()} utterances): {[round(t, 2) for t in times]} s per epoch")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
