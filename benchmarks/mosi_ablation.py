"""Validation accuracy / weighted F1 on CMU-MOSI for every modality subset, single- vs multi-task.

    python benchmarks/mosi_ablation.py [--data-dir ../shared/data/mosi] [--seeds 0 1 2] [--folds 5]

Each cell is out-of-fold over the training videos (k folds by video, each model early-stopped on
its own fold), averaged over seeds. STL = sentiment only; MTL = sentiment + intensity. Other
options are the `mosi` recipe's. Test labels are held out: nothing here touches the test split.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtmm_es.model.corpora.mosi import load_mosi  # noqa: E402
from mtmm_es.model.fit import fit  # noqa: E402
from mtmm_es.model.recipes import load_recipe  # noqa: E402

SUBSETS = {
    "T": ("text",),
    "A": ("acoustic",),
    "V": ("visual",),
    "TA": ("text", "acoustic"),
    "TV": ("text", "visual"),
    "AV": ("acoustic", "visual"),
    "TAV": ("text", "acoustic", "visual"),
}
SETUPS = {"STL": ("sentiment",), "MTL": ("sentiment", "intensity")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/mosi"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    corpus = load_mosi(args.data_dir)
    base = load_recipe("mosi").train
    results = {}
    print(f"{'':4s} " + "  ".join(f"{s} acc    {s} F1 " for s in SETUPS))
    for name, modalities in SUBSETS.items():
        row = {}
        for setup, tasks in SETUPS.items():
            accuracies, f1s = [], []
            for seed in args.seeds:
                config = replace(base, modalities=modalities, tasks=tasks, seed=seed)
                _, report = fit(corpus, config, folds=args.folds, log=None)
                accuracies.append(report["validation"]["sentiment_accuracy"])
                f1s.append(report["validation"]["sentiment_f1_weighted"])
            row[setup] = {"accuracy": statistics.mean(accuracies), "f1_weighted": statistics.mean(f1s)}
        results[name] = row
        print(
            f"{name:4s} " + "  ".join(f"{row[s]['accuracy']:7.4f}  {row[s]['f1_weighted']:7.4f}" for s in SETUPS),
            flush=True,
        )
    print(json.dumps({"seeds": args.seeds, "folds": args.folds, "results": results}))


if __name__ == "__main__":
    main()
