"""What the face adds: sarcasm on the House M.D. scenes by scene-grouped cross-validation, per modality
set, and how well a face-only branch distilled from the text + acoustic teacher agrees with it.

Per fold (5 folds of scenes, `house.scene_folds`): train on MUStARD++ and MUStARD (text; only when the
setup has text) plus the other House scenes, early-stop on the MUStARD validation scenes plus one more
House fold (never the test fold), predict the test fold's target utterances. The AUC is over all 130
out-of-fold sarcasm scores (with --alone, each target clip scored without its scene, as the product
analyses a clip; training still sees whole scenes only, unlike the default recipe's
`house_targets_alone`). The mtl/distill soft labels come from the recipe's teacher or --teacher,
which must not have trained on the House scenes (the default from v5 on did). Setups: text,
text+acoustic, text+acoustic+visual, visual, acoustic; `+mtl` adds the emotion and sentiment tasks
(MUStARD++'s gold labels, the teacher checkpoint's soft labels on the House scenes); `+distill`
adds to that face-only copies of the House scenes labelled by the teacher (model/distill.py, as
the tri-modal recipe does; the early-stopping fold's copies validate),
and the face-only predictions on the test fold's copies are compared with the teacher's labels
(agreement, against always answering the teacher's most frequent label); with `:no-house` the House
scenes only validate (the model learns sarcasm from MUStARD alone). A logistic regression on the
target utterances' visual features alone gives a linear reference. Features come through the
product's extractors (cached). Last line JSON.

    python benchmarks/visual_ablation.py [--data-root ../shared/data] [--seeds 3] [--setups text text+acoustic ...]
        [--alone] [--permute acoustic] [--teacher CHECKPOINT]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mtmm_es.extractors.text import GloveTextExtractor, TextConfig
from mtmm_es.model.corpora.common import add_text_features
from mtmm_es.model.corpora.house import load_house, scene_folds, target_row, targets_alone
from mtmm_es.model.distill import DistillConfig, agreement, face_copies, load_teacher, teacher_labelled
from mtmm_es.model.multi import deduplicated, load_datasets
from mtmm_es.model.recipes import load_recipe
from mtmm_es.model.train import predict, train
from mtmm_es.model.weak import union
from mtmm_es.pipeline.training import recipe_extract

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "text+acoustic"  # other setups' AUC differences are bootstrapped against it, when it ran
TEXT, TA, TAV = ("text",), ("text", "acoustic"), ("text", "acoustic", "visual")
# name -> (modalities, extra: None | "mtl" (+ emotion and sentiment: MUStARD++ gold, the teacher's soft
# labels on the House scenes) | "distill" (mtl + face-only copies with the teacher's labels), House trains)
SETUPS = {
    "text": (TEXT, None, True),
    "text+acoustic": (TA, None, True),
    "text+acoustic+visual": (TAV, None, True),
    "visual": (("visual",), None, True),
    "acoustic": (("acoustic",), None, True),
    "text+mtl": (TEXT, "mtl", True),
    "text+acoustic+mtl": (TA, "mtl", True),
    "text+acoustic+visual+mtl": (TAV, "mtl", True),
    "text+acoustic+visual+distill": (TAV, "distill", True),
    "visual+distill": (("visual",), "distill", True),
    "text:no-house": (TEXT, None, False),
    "text+acoustic+mtl:no-house": (TA, "mtl", False),
}


def targets(videos):
    """(truth, row index of the target) per video: the labelled sarcasm utterance."""
    rows = [target_row(v) for v in videos]
    return np.array([v.targets["sarcasm"][r] for v, r in zip(videos, rows)]), rows


def bootstrap_ci(truth: np.ndarray, score: np.ndarray, other: np.ndarray | None = None, n: int = 2000):
    """95 % interval of the AUC (or of AUC(score) - AUC(other), paired) over scenes resampled."""
    rng = np.random.default_rng(0)
    values = []
    for _ in range(n):
        pick = rng.integers(0, len(truth), len(truth))
        if truth[pick].min() == truth[pick].max():
            continue
        value = roc_auc_score(truth[pick], score[pick])
        values.append(value - roc_auc_score(truth[pick], other[pick]) if other is not None else value)
    return [round(float(v), 4) for v in np.percentile(values, [2.5, 97.5])]


def permute_features(house, modality: str) -> None:
    """A control, in place: `modality`'s features shuffled across the scenes' utterances that have it
    (seeded), so it stays present but no longer goes with its line or its label."""
    rows = [(v, r) for v in house.videos for r in np.flatnonzero(v.masks[modality])]
    values = [v.features[modality][r].copy() for v, r in rows]
    for (video, row), k in zip(rows, np.random.default_rng(0).permutation(len(rows))):
        video.features[modality][row] = values[k]


def linear_visual(house, folds) -> float:
    """Out-of-fold AUC of a logistic regression on the target utterances' visual features."""
    truth, rows = targets(house.videos)
    x = np.stack([v.features["visual"][r] for v, r in zip(house.videos, rows)])
    index = {v.id: i for i, v in enumerate(house.videos)}
    scores = np.zeros(len(truth))
    for fold in folds:
        test = np.array([index[i] for i in fold])
        train_rows = np.setdiff1d(np.arange(len(truth)), test)
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
        model.fit(x[train_rows], truth[train_rows])
        scores[test] = model.predict_proba(x[test])[:, 1]
    return float(roc_auc_score(truth, scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_root = Path(os.environ.get("MTMM_SHARED_DATA", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data-root", type=Path, default=default_root)
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--seeds", type=int, default=1, help="members per fold (seeds 0..N-1), predictions averaged")
    parser.add_argument("--setups", nargs="*", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--scores", type=Path, default=None, help="write each setup's out-of-fold scores (JSON)")
    parser.add_argument(
        "--permute", choices=("text", "acoustic", "visual"), help="a control: shuffle this modality's House features"
    )
    parser.add_argument(
        "--teacher", default=None, help="checkpoint for the mtl/distill soft labels (default: the recipe's)"
    )
    parser.add_argument("--alone", action="store_true", help="score each target clip alone, without its scene")
    parser.add_argument("--context-norm", nargs="*", default=None, help="modalities z-scored over each scene too")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    recipe = load_recipe(args.recipe)
    extra = recipe.extra or {}
    text = GloveTextExtractor(TextConfig(**extra.get("text", {})))
    house = add_text_features(load_house(args.data_root / "sarcasm_video", "all", recipe_extract(extra)), text)
    if args.permute:
        permute_features(house, args.permute)
    sarcasm_text = deduplicated(load_datasets(args.data_root, {**extra, "datasets": ["mustardpp", "mustard"]}))
    text_train = union("mustard-train", [d.train for d in sarcasm_text])
    text_val = union("mustard-val", [d.val for d in sarcasm_text])
    distill = DistillConfig.from_dict(
        {**extra.get("distill", {}), **({"teacher": args.teacher} if args.teacher else {})}
    )
    teacher = load_teacher(distill, house.spec)
    if "house" in teacher.training.get("datasets", {}) and any(SETUPS[s][1] for s in args.setups):
        raise SystemExit(
            f"the teacher {distill.teacher_dir()} trained on the House scenes, so its soft labels would carry "
            "the test folds' sarcasm: give --teacher a checkpoint trained without them (e.g. v4, commit b54f845)"
        )
    folds = scene_folds([v.id for v in house.videos])
    truth_by_id = {v.id: t for v, t in zip(house.videos, targets(house.videos)[0])}
    summary: dict = {"benchmark": "visual_ablation", "scenes": len(house.videos), "folds": len(folds), "setups": {}}
    summary.update(alone=args.alone, permute=args.permute)
    summary["linear_visual_auc"] = round(linear_visual(house, folds), 4)
    print(f"logistic regression on the face features alone: AUC {summary['linear_visual_auc']:.3f}", file=sys.stderr)
    oof: dict[str, dict[str, float]] = {}
    for setup in args.setups:
        modalities, extra_tasks, with_house = SETUPS[setup]
        with_distill = extra_tasks == "distill"
        tasks = ("sarcasm", *distill.tasks) if extra_tasks else ("sarcasm",)
        config = replace(
            recipe.train,
            tasks=tasks,
            modalities=modalities,
            context_norm=tuple(m for m in (args.context_norm or recipe.train.context_norm) if m in modalities),
            monitor="loss",
            task_weights={},
        )
        scores, agreements = {}, []
        for k, fold in enumerate(folds):
            inner = set(folds[(k + 1) % len(folds)])
            test_part = house.subset(fold)
            house_train = house.subset([v.id for v in house.videos if v.id not in set(fold) | inner])
            house_inner = house.subset(sorted(inner))
            house_parts = [teacher_labelled(house_train, teacher, distill)] if extra_tasks else [house_train]
            house_parts += [face_copies(house_train, teacher, distill)] if with_distill else []
            parts = (house_parts if with_house else []) + ([text_train] if "text" in modalities else [])
            val_parts = ([house_inner] if with_house else []) + ([text_val] if "text" in modalities else [])
            val_parts += [face_copies(house_inner, teacher, distill)] if with_distill else []
            val = union("val", val_parts)
            scored = targets_alone(test_part) if args.alone else test_part
            runs = []
            for seed in range(args.seeds):
                model = train(union("train", parts), val, replace(config, seed=seed), log=None).model
                runs.append(model)
                for video, item in zip(test_part.videos, predict(model, scored.videos)):
                    row = 0 if args.alone else targets([video])[1][0]
                    scores.setdefault(video.id, []).append(float(item["sarcasm"][row]))
            if with_distill:
                copies = face_copies(test_part, teacher, distill)
                faces = [
                    {key: np.mean([p[key] for p in ps], 0) for key in ps[0]}
                    for ps in zip(*[predict(m, copies.videos) for m in runs])
                ]
                agreements.append(agreement(faces, copies, distill.tasks))
        ids = sorted(scores)
        auc = roc_auc_score([truth_by_id[i] for i in ids], [np.mean(scores[i]) for i in ids])
        result = {"auc": round(float(auc), 4), "modalities": list(modalities)}
        oof[setup] = {i: float(np.mean(scores[i])) for i in ids}
        if agreements:
            weights = [a.get("emotion_utterances", 0) for a in agreements]
            keys = ("emotion_top1_agreement", "emotion_top1_majority", "emotion_pearson")
            keys += ("sentiment_agreement", "sentiment_majority", "sentiment_pearson")
            for key in keys:
                values = [a[key] for a in agreements if key in a]
                if values:
                    result[key] = round(float(np.average(values, weights=weights[: len(values)])), 4)
        summary["setups"][setup] = result
        print(f"{setup:32s} AUC {result['auc']:.3f}  {time.perf_counter() - started:.0f} s", file=sys.stderr)
    ids = sorted(truth_by_id)
    truth = np.array([truth_by_id[i] for i in ids])
    for setup, scored in oof.items():
        score = np.array([scored[i] for i in ids])
        summary["setups"][setup]["auc_ci95"] = bootstrap_ci(truth, score)
        if REFERENCE in oof and setup != REFERENCE:
            other = np.array([oof[REFERENCE][i] for i in ids])
            summary["setups"][setup][f"minus_{REFERENCE}_ci95"] = bootstrap_ci(truth, score, other)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    if args.scores:
        args.scores.write_text(json.dumps({"truth": {i: float(t) for i, t in truth_by_id.items()}, "scores": oof}))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
