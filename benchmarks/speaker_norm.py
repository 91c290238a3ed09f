"""Per-speaker normalisation, tried and reverted: one extraction per recording (two held-out actors
taking turns, or one actor), labels with the diarized speakers, the true ones, or none (pooled).

    python benchmarks/speaker_norm.py [f1|wacc]
"""

import csv
import itertools
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, "/work/main/benchmarks")
import speech_e2e as b

from mtmm_es.pipeline.analyze import Pipeline


def true_speaker(u, truth, who):
    """The actor of the clip whose window overlaps the utterance most."""
    ov = [max(0, min(u.end, e) - max(u.start, s)) for s, e, _ in truth]
    return who[int(np.argmax(ov))] if max(ov) > 0 else None


pipeline = Pipeline(emotion_thresholds=sys.argv[1] if len(sys.argv) > 1 else None)
data = Path("/work/shared/data/speech")
out = {}
with tempfile.TemporaryDirectory() as temp:
    for corpus in ("cremad", "ravdess"):
        folder = data / corpus
        rows = list(csv.DictReader(open(folder / "labels.csv", newline="", encoding="utf-8")))
        actors = b.held_out_actors(rows, corpus)[:6]
        jobs = [("pair", a, c) for a, c in itertools.combinations(actors, 2)] + [("solo", a, None) for a in actors]
        res = {}
        for kind, a, c in jobs:
            if kind == "pair":
                chosen = b.conversation(rows, a, c, 14)
            else:
                mine = [r for r in rows if r["actor"] == a]
                chosen = [mine[k] for k in np.random.default_rng(int(a)).permutation(len(mine))[:28]]
            audio, truth = b.recording(folder, chosen)
            who = [r["actor"] for r in chosen]
            path = Path(temp) / f"{corpus}-{a}-{c}.wav"
            soundfile.write(path, audio, b.SAMPLE_RATE)
            ex = pipeline.features.extract(path)
            spec = ex.spec()

            variants = {
                "diarized": ex.utterances,
                "true": [replace(u, speaker=true_speaker(u, truth, who)) for u in ex.utterances],
                "none": [replace(u, speaker=None) for u in ex.utterances],
            }
            for name, utts in variants.items():
                e2 = replace(ex, utterances=utts)
                result = pipeline._result(e2, spec, pipeline._predict(e2))
                matched = [b.nearest(result.utterances, (s + e) / 2) for s, e, _ in truth]
                preds = [(u.emotions.labels[0] if u.emotions and u.emotions.labels else "none") for u in matched]
                r = res.setdefault((kind, name), [[], []])
                r[0] += [t[2] for t in truth]
                r[1] += preds
            print(corpus, kind, a, c, len({u.speaker for u in ex.utterances}), flush=True)
        for (kind, name), (t, p) in sorted(res.items()):
            out[f"{corpus}/{kind}/{name}"] = round(b.uar(t, p), 4)
            print(corpus, kind, name, out[f"{corpus}/{kind}/{name}"], len(t), flush=True)
print(json.dumps(out))
