"""The tasks the model can learn and how their targets look."""

from __future__ import annotations

EMOTIONS = ("anger", "disgust", "fear", "happy", "sad", "surprise")
EMOTION_LABELS = (*EMOTIONS, "none")  # the 7 sigmoids: six emotions + "no emotion"
SENTIMENT_LABELS = ("negative", "positive")

# task -> width of its per-utterance target (targets are floats: hard 0/1 labels or soft weak labels)
TASKS: dict[str, int] = {
    "sentiment": 1,  # probability of positive; the head is a 2-way softmax
    "intensity": 1,  # sentiment score in [-3, 3]; regression
    "emotion": len(EMOTION_LABELS),  # multi-label: one probability per emotion + none
    "sarcasm": 1,  # probability of sarcasm
}
