"""From one utterance's model outputs to coherent labels (a pure function the pipeline calls).

Rules:
- Sentiment has one source. The label is P(positive) >= 0.5 (the CMU convention: sentiment >= 0 is
  positive). The score is the intensity head's value when it agrees with the label's sign; when the
  two heads disagree the score is set just inside the label's side (+/- `BOUNDARY_SCORE`), so the
  label and the score's sign never contradict each other. Without an intensity head the score is
  P(positive) mapped linearly onto [-3, 3].
- Emotions: an emotion is labelled when its score reaches its threshold (chosen per emotion on
  validation data; the `f1` ones maximise the seed paper's weighted F1, the mean of the F1 of
  "present" and of "absent" weighted by their counts, so a rare emotion needs a likely score).
  "none" is the label when P(none) reaches its own threshold (0.5 unless given) and beats every
  labelled emotion's score relative to that emotion's threshold. When no emotion reaches its
  threshold, the label is the strongest of the seven relative to its threshold: "none" only when
  it is (a clip whose voice reads 0.39 happy and 0.01 none is "happy", not "none"); without a none
  score, "none". The rule holds for every checkpoint. Labels are ordered by score / threshold,
  strongest first, so the first label is the top emotion.
- Sarcasm: P(sarcasm) is reported at the checkpoint's stated base rate. The sarcasm sets it learnt
  from are balanced, so its raw P assumes that about half of all utterances are sarcastic; the
  posterior odds scale with the prior odds (Saerens et al. 2002), so the same evidence at a 10 %
  base rate has its odds divided by about 9.5 (from 0.512). The order of utterances by P never
  changes.
- An utterance without any input the model uses gets no labels (None) and a reason for `warnings`.
  A task the checkpoint predicts from some modalities only (`task_modalities`: in the default,
  sentiment reads the text, sarcasm the text and the voice) gets None, with a reason, when the
  utterance lacks them: a sentiment or sarcasm route that reads the text needs it, an emotion route
  any of its modalities (`required_modalities`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtmm_es.core.errors import MtmmError
from mtmm_es.core.labels import Emotions, Sarcasm, Sentiment, coherent_sentiment, rounded

from .tasks import EMOTION_LABELS, EMOTIONS

NONE_THRESHOLD = 0.5
UNCHOSEN_THRESHOLDS = (0.5,) * len(EMOTIONS)  # a checkpoint's emotion thresholds when validation chose none


@dataclass(frozen=True)
class UtteranceLabels:
    """Typed labels of one utterance, or None for every task with `reason` set."""

    sentiment: Sentiment | None
    emotions: Emotions | None
    sarcasm: Sarcasm | None
    reason: str | None = None
    needs: tuple[str, ...] = ()  # the modalities the tasks left out needed, when `reason` says so


def emotion_labels(scores: Sequence[float], thresholds: Sequence[float]) -> list[str]:
    """Labelled emotions, strongest (score / threshold) first, or ["none"] (see module rules).

    `scores` has the six emotions then none; `thresholds` six values, or seven with none's."""
    ratios = {name: float(scores[k]) / max(float(thresholds[k]), 1e-6) for k, name in enumerate(EMOTIONS)}
    fired = sorted((n for n, r in ratios.items() if r >= 1.0), key=lambda n: -ratios[n])
    if len(scores) > len(EMOTIONS):
        none_threshold = float(thresholds[len(EMOTIONS)]) if len(thresholds) > len(EMOTIONS) else NONE_THRESHOLD
        none_ratio = float(scores[len(EMOTIONS)]) / max(none_threshold, 1e-6)
        if none_ratio >= 1.0 and all(none_ratio >= ratios[n] for n in fired):
            return ["none"]
        if not fired:
            strongest = max(ratios, key=ratios.get)
            return [strongest] if ratios[strongest] > none_ratio else ["none"]
    return fired or ["none"]


def prior_shifted(p: float, trained: float, reported: float) -> float:
    """A probability learnt at base rate `trained`, restated at base rate `reported`."""
    odds = p / max(1.0 - p, 1e-9) * (reported / (1.0 - reported)) / (trained / (1.0 - trained))
    return odds / (1.0 + odds)


def base_rate(value: Any) -> float:
    """A recipe's or a user's sarcasm base rate, checked: a share strictly between 0 and 1."""
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = float("nan")
    if not 0.0 < rate < 1.0:
        raise MtmmError(f"sarcasm base rate {value!r} is not a share between 0 and 1 (e.g. 0.1)")
    return rate


def required_modalities(route: Sequence[str], task: str = "") -> tuple[str, ...]:
    """What an utterance must have for a routed task to be labelled: for emotion any of the route
    (acted speech trained the voice to give it alone); for the others the text when the route reads
    it (the words carry the gold labels of sentiment and sarcasm; the voice alone was never trained
    to give them), else any of the route."""
    return ("text",) if "text" in route and task != "emotion" else tuple(route)


def label_utterance(
    predicted: Mapping[str, np.ndarray],
    index: int,
    thresholds: Sequence[float] | None,
    used: Sequence[str] | None = None,
    task_modalities: Mapping[str, Sequence[str]] | None = None,
    sarcasm_rates: tuple[float, float] | None = None,
) -> UtteranceLabels:
    """Labels of utterance `index` from per-video predictions; `used` are the modalities the model
    used for it (an empty list: no labels, and the reason; None: not known);
    `task_modalities` the checkpoint's tasks read from some modalities only; `sarcasm_rates`
    (trained, reported) base rates of P(sarcasm)."""
    if used is not None and not used:
        return UtteranceLabels(None, None, None, f"utterance {index}: no usable input (no modality the model uses)")
    needs = {task: required_modalities(modalities, task) for task, modalities in (task_modalities or {}).items()}
    unheard = {task for task, needed in needs.items() if used is not None and not set(needed) & set(used)}
    sentiment = emotions = sarcasm = None
    if "sentiment" in predicted and "sentiment" not in unheard:
        p = rounded(predicted["sentiment"][index])  # labels decided on the values shown
        intensity = rounded(predicted["intensity"][index]) if "intensity" in predicted else None
        label, score = coherent_sentiment(p, intensity)
        sentiment = Sentiment(label, p, rounded(score) + 0.0)  # + 0.0: no "-0.0"
    if "emotion" in predicted and "emotion" not in unheard:
        scores = np.array([rounded(s) for s in predicted["emotion"][index]])
        emotions = Emotions(
            tuple(emotion_labels(scores, thresholds or UNCHOSEN_THRESHOLDS)),
            {name: rounded(scores[k]) for k, name in enumerate(EMOTION_LABELS)},
        )
    if "sarcasm" in predicted and "sarcasm" not in unheard:
        p = float(predicted["sarcasm"][index])
        sarcasm = Sarcasm(rounded(prior_shifted(p, *sarcasm_rates) if sarcasm_rates else p))
    skipped = sorted(t for t in unheard & {"sentiment", "emotion", "sarcasm"} if t in predicted)
    reason, needed = None, []
    if skipped:
        needed = sorted({m for t in skipped for m in needs[t]})
        reason = (
            f"utterance {index}: {' and '.join(skipped)} not labelled (needs {' or '.join(needed)}: none usable here, "
            "not recognised or not trusted)"
        )
    return UtteranceLabels(sentiment, emotions, sarcasm, reason, tuple(needed))
