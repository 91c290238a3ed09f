"""Linear probe of acoustic feature sets across speech corpora: each speaker's clips z-scored over
that speaker (speaker normalisation), a class-balanced logistic regression trained on two of
CREMA-D, RAVDESS and TESS and scored on the third (UAR over its classes), for the parts of
`covarep+egemaps+whisper` alone and together. The quick way to see what a feature set carries to a
corpus it never saw, before training the model on it.

    python benchmarks/speech_probe.py [--c 0.001 0.003 0.01]

Features come from the product's extractors through the speech corpus loader (cached under
$MTMM_CORPUS_CACHE). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtmm_es.extractors.acoustic import AcousticConfig, make_acoustic_extractor  # noqa: E402
from mtmm_es.extractors.text import GloveTextExtractor  # noqa: E402
from mtmm_es.model.corpora.speech import CORPORA, load_speech, speaker_of  # noqa: E402
from mtmm_es.model.multi import corpus_cache  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETS = {"covarep+egemaps": slice(0, 163), "whisper": slice(163, None), "covarep+egemaps+whisper": slice(0, None)}


def speaker_normalised(data_dir: str, corpus: str) -> tuple[np.ndarray, np.ndarray]:
    """All clips' 547 features z-scored over their speaker, and their emotion classes."""
    acoustic = make_acoustic_extractor(AcousticConfig(extractor="covarep+egemaps+whisper"))
    loaded = load_speech(data_dir, corpus, acoustic, GloveTextExtractor(), corpus_cache(), seed=0)
    features = np.vstack([v.features["acoustic"] for v in loaded.videos]).astype(float)
    speakers = np.concatenate([[speaker_of(v)] * len(v) for v in loaded.videos])
    classes = np.concatenate([np.asarray(v.targets["emotion"]).argmax(1) for v in loaded.videos])
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        features[rows] = (features[rows] - features[rows].mean(0)) / (features[rows].std(0) + 1e-6)
    return features, classes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--c", type=float, nargs="+", default=[0.001, 0.003, 0.01], help="inverse regularisation")
    args = parser.parse_args()
    data = {corpus: speaker_normalised(args.data_dir, corpus) for corpus in CORPORA}
    result = {}
    for name, columns in SETS.items():
        for c in args.c:
            scores = {}
            for held_out in CORPORA:
                train = [corpus for corpus in CORPORA if corpus != held_out]
                model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(
                    np.vstack([data[t][0][:, columns] for t in train]), np.concatenate([data[t][1] for t in train])
                )
                truth = data[held_out][1]
                predicted = model.predict(data[held_out][0][:, columns])
                scores[held_out] = round(recall_score(truth, predicted, average="macro", labels=np.unique(truth)), 4)
            scores["mean"] = round(float(np.mean(list(scores.values()))), 4)
            result[f"{name} C={c}"] = scores
            print(f"{name:26s} C={c:<6} {scores}", flush=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
