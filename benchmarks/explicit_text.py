"""Emotion read from words that state it: the default's labels on GoEmotions and DailyDialog.

The default learnt emotion from text on CMU-MOSEI (people talking to a camera, where annotators mark
happy on about half of all segments). This benchmark asks what its labels say on text whose emotion
is explicit: the GoEmotions dev comments (Ekman six + neutral, each comment alone) and the
DailyDialog validation dialogues (a dialogue = context), through `mtmm predict --transcripts` (the
checkpoint's own path; neither corpus was trained on). For the utterances with exactly one of our
six emotions: how often the first label is right, and per emotion what the first label is; the
unweighted recall (UAR, chance 1/6) of the top score and of the top lift (score over its mean on
MOSEI validation, so happy's large prior does not win every time); for the neutral utterances, how
often the first label is "none".

--linear-proxy adds what pooling these corpora into training would give, measured the quick way:
per-emotion logistic regressions on the same GloVe means (our text extractor, negation on), trained
on the MOSEI train transcripts alone or pooled with GoEmotions train and DailyDialog train at a
weight w per utterance (MOSEI's x2 as in the default recipe; DailyDialog at w/2, its turns being
twice GoEmotions' comments), scored by mean AUC over the six emotions on MOSEI validation and UAR of
the top lift on the two dev sets. The last line is JSON.

    python benchmarks/explicit_text.py [--checkpoint model/default] [--data-dir ../shared/data] [--linear-proxy]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtmm_es.model.tasks import EMOTIONS  # noqa: E402
from mtmm_es.pipeline.training import predict_transcripts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GOEMOTIONS = {"anger": "anger", "disgust": "disgust", "fear": "fear", "joy": "happy", "sadness": "sad"}
GOEMOTIONS["surprise"] = "surprise"
DAILYDIALOG = {"anger": "anger", "disgust": "disgust", "fear": "fear", "happiness": "happy", "sadness": "sad"}
DAILYDIALOG["surprise"] = "surprise"
PROXY_WEIGHTS = (0.05, 0.1, 0.25, 1.0)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def explicit_sets(data: Path, split: dict[str, str]) -> dict[str, list[tuple[str, str, str, list[str]]]]:
    """Per corpus: (video_id, segment_id, text, gold emotions; [] for neutral) in file order."""
    comments = read_rows(data / "text" / "goemotions" / f"{split['goemotions']}.csv")
    turns = read_rows(data / "text" / "dailydialog" / f"{split['dailydialog']}.csv")
    return {
        "goemotions": [
            (f"ge-{r['id']}", "0", r["text"], [GOEMOTIONS[e] for e in r["ekman"].split(";") if e in GOEMOTIONS])
            for r in comments
        ],
        "dailydialog": [
            (r["dialogue_id"], r["turn"], r["text"], [DAILYDIALOG[r["emotion"]]] if r["emotion"] in DAILYDIALOG else [])
            for r in turns
        ],
    }


def uar(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean([np.mean(predicted[truth == k] == k) for k in np.unique(truth)]))


def scores_of(rows: list[dict[str, str]]) -> np.ndarray:
    return np.array([[float(r[f"p_{e}"]) for e in EMOTIONS] for r in rows])


def checkpoint_report(checkpoint: str | None, data: Path, folder: Path) -> dict[str, dict]:
    mosei = folder / "mosei.csv"
    predict_transcripts(data / "mosei" / "transcripts_valid.csv", mosei, checkpoint)
    prior = scores_of(read_rows(mosei)).mean(0)
    report = {}
    for name, items in explicit_sets(data, {"goemotions": "dev", "dailydialog": "validation"}).items():
        transcripts, predictions = folder / f"{name}.csv", folder / f"{name}.pred.csv"
        with transcripts.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["video_id", "segment_id", "text"])
            writer.writerows((v, s, t) for v, s, t, _ in items)
        predict_transcripts(transcripts, predictions, checkpoint)
        predicted = {(r["file"], r["index"]): r for r in read_rows(predictions)}
        single = [
            (predicted[(v, s)], gold[0]) for v, s, _, gold in items if len(gold) == 1 and predicted[(v, s)]["emotions"]
        ]
        neutral = [predicted[(v, s)] for v, s, _, gold in items if not gold and predicted[(v, s)]["emotions"]]
        truth = np.array([EMOTIONS.index(g) for _, g in single])
        scores = scores_of([r for r, _ in single])
        first = [r["emotions"].split(";")[0] for r, _ in single]
        report[name] = {
            "utterances": len(single),
            "first_label_right": round(float(np.mean([f == g for f, (_, g) in zip(first, single)])), 3),
            "first_label_by_emotion": {
                e: {
                    label: round(first_of_e.count(label) / len(first_of_e), 2)
                    for label in sorted(set(first_of_e), key=first_of_e.count, reverse=True)[:3]
                }
                for e in EMOTIONS
                if (first_of_e := [f for f, (_, g) in zip(first, single) if g == e])
            },
            "uar_top_score": round(uar(truth, scores.argmax(1)), 3),
            "uar_top_lift": round(uar(truth, (scores / prior).argmax(1)), 3),
            "neutral_utterances": len(neutral),
            "neutral_first_label_none": round(
                float(np.mean([r["emotions"].split(";")[0] == "none" for r in neutral])), 3
            ),
        }
    return report


def linear_proxy(data: Path) -> dict[str, dict]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from mtmm_es.extractors.text import GloveTextExtractor, TextConfig

    extractor = GloveTextExtractor(TextConfig(negation=True))

    def featured(items: list[tuple[str, list[str]]]) -> tuple[np.ndarray, np.ndarray]:
        values, _ = extractor.embed([text for text, _ in items])
        labels = np.array([[e in gold for e in EMOTIONS] for _, gold in items], dtype=int)
        return values, labels

    def mosei(split: str) -> tuple[np.ndarray, np.ndarray]:
        rows = read_rows(data / "mosei" / f"transcripts_{split}.csv")
        return featured([(r["text"], [e for e in EMOTIONS if float(r[e]) > 0]) for r in rows])

    (xm, ym), (xv, yv) = mosei("train"), mosei("valid")
    train = explicit_sets(data, {"goemotions": "train", "dailydialog": "train"})
    dev = explicit_sets(data, {"goemotions": "dev", "dailydialog": "validation"})
    xg, yg = featured([(t, gold) for _, _, t, gold in train["goemotions"]])
    xd, yd = featured([(t, gold) for _, _, t, gold in train["dailydialog"]])
    devs = {name: featured([(t, gold) for _, _, t, gold in items if len(gold) == 1]) for name, items in dev.items()}

    def fitted(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, float]:
        models = [LogisticRegression(max_iter=2000).fit(x, y[:, k], sample_weight=w) for k in range(len(EMOTIONS))]

        def score(features: np.ndarray) -> np.ndarray:
            return np.stack([m.predict_proba(features)[:, 1] for m in models], 1)

        mosei_scores = score(xv)
        result = {
            "mosei_auc": round(float(np.mean([roc_auc_score(yv[:, k], mosei_scores[:, k]) for k in range(6)])), 4)
        }
        for name, (features, labels) in devs.items():
            lifted = score(features) / mosei_scores.mean(0)
            result[f"{name}_uar_top_lift"] = round(uar(labels.argmax(1), lifted.argmax(1)), 3)
        return result

    results = {"mosei only": fitted(xm, ym, np.full(len(xm), 2.0))}  # weighted as in the pooled fits
    x, y = np.vstack([xm, xg, xd]), np.vstack([ym, yg, yd])
    for weight in PROXY_WEIGHTS:
        w = np.concatenate([np.full(len(xm), 2.0), np.full(len(xg), weight), np.full(len(xd), weight / 2)])
        results[f"pooled w={weight}"] = fitted(x, y, w)
    results["goemotions + dailydialog only"] = fitted(
        np.vstack([xg, xd]), np.vstack([yg, yd]), np.concatenate([np.full(len(xg), 1.0), np.full(len(xd), 0.5)])
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="checkpoint folder (default: the shipped default)")
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--linear-proxy", action="store_true", help="also the pooling proxy (about 5 minutes)")
    args = parser.parse_args()
    data = Path(args.data_dir)
    with tempfile.TemporaryDirectory() as folder:
        report: dict[str, dict] = {"checkpoint": checkpoint_report(args.checkpoint, data, Path(folder))}
    for name, figures in report["checkpoint"].items():
        print(
            f"{name}: {figures['utterances']} utterances with one emotion; first label right "
            f"{figures['first_label_right']:.3f}; UAR top score {figures['uar_top_score']:.3f}, "
            f"top lift {figures['uar_top_lift']:.3f}; neutral labelled none {figures['neutral_first_label_none']:.3f}"
        )
        for emotion, labels in figures["first_label_by_emotion"].items():
            print(f"  {emotion}: first label {labels}")
    if args.linear_proxy:
        report["linear_proxy"] = linear_proxy(data)
        for setup, figures in report["linear_proxy"].items():
            print(f"{setup:30s} " + "  ".join(f"{k} {v}" for k, v in figures.items()))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
