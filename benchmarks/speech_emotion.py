"""Speech-emotion UAR of the acoustic branch alone on the acted speech corpora (CREMA-D, RAVDESS,
TESS): cross-corpus (train on two, validate on the third; `all`: each in turn, and the mean) or
speaker-independent (20 % of the speakers of each corpus held out), with the speaker normalisation
appended to the features (`context`, v2.2), replacing them (`video`, v3) or none, for the
COVAREP-like statistics, eGeMAPS, the Whisper encoder states, or parts side by side.

    python benchmarks/speech_emotion.py --held-out tess [--features covarep|egemaps|whisper|covarep+egemaps|covarep+egemaps+whisper] [--norm context|video|none]
    python benchmarks/speech_emotion.py --held-out all --features covarep+egemaps --norm video
    python benchmarks/speech_emotion.py --held-out speaker [--single-share 0.3]

`--single-share` trains with that share of each speaker's clips as one-clip videos. Validation
videos are a speaker's clips in pseudo-videos (mean 30 clips; `_uar`) and every clip alone as its
own video (`_uar_one_clip`: no speaker context, as `analyze-video` on a one-utterance clip).

Per-clip features are cached under $MTMM_CORPUS_CACHE (default ~/.cache/mtmm-es/corpora). UAR is the
mean recall of the argmax over the six emotions + none over the classes the validation corpus has.
The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtmm_es.extractors.acoustic import EXTRACTORS, AcousticConfig, make_acoustic_extractor  # noqa: E402
from mtmm_es.extractors.text import GloveTextExtractor  # noqa: E402
from mtmm_es.model.corpora.speech import CORPORA, load_speech, one_clip_videos  # noqa: E402
from mtmm_es.model.metrics import emotion_uar  # noqa: E402
from mtmm_es.model.multi import corpus_cache, split_speakers  # noqa: E402
from mtmm_es.model.train import TrainConfig, predict, train  # noqa: E402
from mtmm_es.model.weak import union  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--held-out", default="tess", choices=[*CORPORA, "all", "speaker"])
    parser.add_argument("--features", default="covarep", choices=tuple(EXTRACTORS))
    parser.add_argument("--norm", default="context", choices=["context", "video", "none"], help="speaker normalisation")
    parser.add_argument("--single-share", type=float, default=0.0, help="share of one-clip training videos")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    acoustic = make_acoustic_extractor(AcousticConfig(extractor=args.features))
    text = GloveTextExtractor()
    corpora = {
        c: load_speech(args.data_dir, c, acoustic, text, corpus_cache(), seed=args.seed, single_share=args.single_share)
        for c in CORPORA
    }
    plain = {c: load_speech(args.data_dir, c, acoustic, text, corpus_cache(), seed=args.seed) for c in CORPORA}
    config = TrainConfig(
        tasks=("emotion",),
        modalities=("acoustic",),
        context_norm=("acoustic",) if args.norm == "context" else (),
        video_norm=("acoustic",) if args.norm == "video" else (),
        epochs=40,
        patience=6,
        monitor="loss",
        seed=args.seed,
    )
    started = time.perf_counter()
    runs = []  # (training corpora split, validation corpora)
    if args.held_out == "speaker":
        parts = {c: split_speakers(corpus, 0.2, args.seed) for c, corpus in corpora.items()}
        held = {c: split_speakers(corpus, 0.2, args.seed)[1] for c, corpus in plain.items()}
        runs.append((parts, {c: val for c, val in held.items() if val.videos}))
    else:
        for out in CORPORA if args.held_out == "all" else (args.held_out,):
            parts = {c: split_speakers(corpora[c], 0.2, args.seed) for c in CORPORA if c != out}
            runs.append((parts, {out: plain[out]}))
    result = {}
    for parts, validation in runs:
        train_part = union("train", [a for a, _ in parts.values()])
        stop_part = union("stop", [b for _, b in parts.values() if b.videos])
        model = train(train_part, stop_part, config, log=None).model
        for name, corpus in validation.items():
            single = one_clip_videos(corpus.videos)
            result[f"{name}_uar"] = round(emotion_uar(corpus.videos, predict(model, corpus.videos)), 4)
            result[f"{name}_uar_one_clip"] = round(emotion_uar(single, predict(model, single)), 4)
    if args.held_out == "all":
        result["mean_uar"] = round(float(np.mean([result[f"{c}_uar"] for c in CORPORA])), 4)
    print(json.dumps({**vars(args), **result, "seconds": round(time.perf_counter() - started)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
