import numpy as np
import pytest

from mtmm_es.core.errors import MtmmError
from mtmm_es.core.labels import BOUNDARY_SCORE, Sentiment, UtteranceResult, coherent_sentiment
from mtmm_es.model.labels import (
    base_rate,
    emotion_labels,
    label_utterance,
    prior_shifted,
)


def test_sentiment_label_and_score_never_disagree_in_sign():
    for p in np.linspace(0.01, 0.99, 25):
        for intensity in np.linspace(-3, 3, 25):
            label, score = coherent_sentiment(float(p), float(intensity))
            assert (label == "positive") == (score >= 0)
    assert coherent_sentiment(0.7, -0.5) == ("positive", BOUNDARY_SCORE)
    assert coherent_sentiment(0.3, 0.4) == ("negative", -BOUNDARY_SCORE)
    assert coherent_sentiment(0.8, 1.2) == ("positive", 1.2)
    assert coherent_sentiment(0.75, None) == ("positive", 1.5)


def test_labels_agree_with_the_rounded_scores_they_are_shown_with():
    """Regression: labels were decided on unrounded values and shown rounded: "negative" beside
    P(positive) 0.5, "negative" with score -0.0, happy at 0.45 left out at its 0.45 threshold."""
    thresholds = [0.5, 0.5, 0.5, 0.45, 0.4, 0.3]
    at_half = label_utterance({"sentiment": np.array([0.49996]), "intensity": np.array([-0.2])}, 0, thresholds)
    assert (at_half.sentiment.label, at_half.sentiment.p_positive) == ("positive", 0.5)
    tiny = label_utterance({"sentiment": np.array([0.3]), "intensity": np.array([-0.00004])}, 0, thresholds)
    assert tiny.sentiment.label == "negative" and tiny.sentiment.score < 0
    scores = np.array([[0.9, 0.1, 0.1, 0.44996, 0.1, 0.1, 0.1]])
    emotions = label_utterance({"emotion": scores}, 0, thresholds).emotions
    assert emotions.scores["happy"] == 0.45 and "happy" in emotions.labels


def test_none_wins_when_its_score_dominates():
    thresholds = [0.2] * 6
    scores = [0.25, 0.0, 0.0, 0.1, 0.0, 0.0, 0.9]  # anger just passes, none at 0.9
    assert emotion_labels(scores, thresholds) == ["none"]
    scores = [0.6, 0.0, 0.0, 0.3, 0.0, 0.0, 0.55]  # anger 3x its threshold beats none
    assert emotion_labels(scores, thresholds) == ["anger", "happy"]
    assert emotion_labels([0.05] * 6 + [0.3], thresholds) == ["none"]  # nothing passes; none strongest


def test_when_nothing_passes_the_strongest_relative_to_its_threshold_is_the_label():
    thresholds = [0.45, 0.35, 0.45, 0.45, 0.35, 0.2]
    # a clip whose voice reads disgust and happy, neither past its threshold, and none at 0.01:
    # not "none", which is the weakest of the seven
    scores = [0.01, 0.29, 0.0, 0.39, 0.03, 0.0, 0.01]
    assert emotion_labels(scores, thresholds) == ["happy"]
    scores = [0.01, 0.33, 0.0, 0.39, 0.03, 0.0, 0.01]
    assert emotion_labels(scores, thresholds) == ["disgust"]
    scores = [0.27, 0.03, 0.01, 0.26, 0.03, 0.01, 0.31]  # none 0.31 / 0.5 beats anger 0.27 / 0.45
    assert emotion_labels(scores, thresholds) == ["none"]
    assert emotion_labels(scores[:6], thresholds) == ["none"]  # no none score: nothing to weigh


def test_labels_are_ordered_strongest_first():
    scores = [0.3, 0.0, 0.0, 0.9, 0.0, 0.0, 0.1]
    assert emotion_labels(scores, [0.2, 0.5, 0.5, 0.5, 0.5, 0.5]) == ["happy", "anger"]
    assert emotion_labels(scores, [0.1, 0.5, 0.5, 0.5, 0.5, 0.5]) == ["anger", "happy"]


def test_utterance_without_usable_input_gets_no_labels_and_a_reason():
    predicted = {"sentiment": np.array([0.9]), "emotion": np.full((1, 7), 0.5), "sarcasm": np.array([0.2])}
    empty = label_utterance(predicted, 0, None, used=[])
    assert empty.sentiment is None and empty.emotions is None and empty.sarcasm is None
    assert "no usable input" in empty.reason
    full = label_utterance(predicted, 0, None, used=["text"])
    assert full.reason is None and full.sentiment.label == "positive" and full.sarcasm.p == 0.2


def test_a_task_that_reads_the_text_is_not_labelled_for_speech_without_words():
    predicted = {"sentiment": np.array([0.9]), "emotion": np.full((1, 7), 0.5), "sarcasm": np.array([0.2])}
    routes = {"sentiment": ["text"], "intensity": ["text"], "sarcasm": ["text", "acoustic"]}
    voice = label_utterance(predicted, 0, None, used=["acoustic"], task_modalities=routes)
    assert voice.sentiment is None and voice.sarcasm is None and voice.emotions is not None
    assert (
        voice.reason
        == "utterance 0: sarcasm and sentiment not labelled (needs text: none usable here, not recognised or not trusted)"
    )
    both = label_utterance(predicted, 0, None, used=["text", "acoustic"], task_modalities=routes)
    assert both.reason is None and both.sentiment is not None and both.sarcasm is not None
    words = label_utterance(predicted, 0, None, used=["text"], task_modalities=routes)
    assert words.reason is None and words.sarcasm is not None  # no audio: sarcasm from the words


def test_a_route_without_text_needs_any_of_its_modalities():
    predicted = {"emotion": np.full((1, 7), 0.5), "sarcasm": np.array([0.2])}
    routes = {"sarcasm": ["acoustic", "visual"]}
    assert label_utterance(predicted, 0, None, used=["visual"], task_modalities=routes).sarcasm is not None
    face_less = label_utterance(predicted, 0, None, used=["text"], task_modalities=routes)
    assert face_less.sarcasm is None and "needs acoustic or visual" in face_less.reason


def test_an_emotion_route_needs_any_of_its_modalities_the_text_included():
    """Regression: emotion routed through the voice was labelled for an utterance without one (the
    route was never checked); a route through the text and the voice still labels the voice alone."""
    predicted = {"emotion": np.full((1, 7), 0.5)}
    voice_route = {"emotion": ["acoustic"]}
    words_only = label_utterance(predicted, 0, None, used=["text"], task_modalities=voice_route)
    assert words_only.emotions is None and words_only.reason.startswith(
        "utterance 0: emotion not labelled (needs acoustic"
    )
    both = {"emotion": ["text", "acoustic"]}
    assert label_utterance(predicted, 0, None, used=["acoustic"], task_modalities=both).emotions is not None


def test_sarcasm_is_restated_at_the_base_rate_the_checkpoint_reports():
    """The sarcasm sets are balanced: P learnt at a 50 % rate reads at a 10 % rate with 1/9 of the
    odds, keeps the utterances' order, and comes back unchanged at the trained rate."""
    assert prior_shifted(0.5, 0.5, 0.1) == pytest.approx(0.1)
    assert prior_shifted(0.9, 0.5, 0.1) == pytest.approx(0.5)  # odds 9 -> 1
    assert prior_shifted(prior_shifted(0.63, 0.5124, 0.1), 0.1, 0.5124) == pytest.approx(0.63)
    predicted = {"sarcasm": np.array([0.2, 0.63, 0.9])}
    plain = [label_utterance(predicted, i, None).sarcasm.p for i in range(3)]
    restated = [label_utterance(predicted, i, None, sarcasm_rates=(0.5, 0.1)).sarcasm.p for i in range(3)]
    assert plain == [0.2, 0.63, 0.9] and restated == sorted(restated) and restated[2] == 0.5
    assert all(r < p for r, p in zip(restated, plain))


def test_a_sarcasm_base_rate_must_be_a_share_between_0_and_1():
    assert base_rate("0.25") == 0.25
    for bad in (0, 1, 1.5, -0.1, "often", None, float("nan")):
        with pytest.raises(MtmmError, match="not a share between 0 and 1"):
            base_rate(bad)


def test_summaries_keep_label_and_score_in_agreement():
    """Regression: the video's and each speaker's sentiment took the label from the mean P(positive)
    and the score from the mean score, so a summary could read "negative, +0.21"."""
    from mtmm_es.core.labels import summarise

    utterances = (
        UtteranceResult(0, 0.0, 1.0, "great", Sentiment("positive", 0.6, 1.0), speaker="S1"),
        UtteranceResult(1, 1.0, 4.0, "hm", Sentiment("negative", 0.45, -0.05), speaker="S1"),
    )
    summary = summarise(utterances, 4.0)
    for sentiment in (summary["sentiment"], summary["speakers"]["S1"]["sentiment"]):
        assert sentiment["p_positive"] == 0.4875
        assert (sentiment["label"], sentiment["score"]) == ("negative", -BOUNDARY_SCORE)


def test_talk_shares_are_shares_of_the_speech_speakers_hold():
    """Regression: a --segments window over silence (no speaker) counted in the denominator, so the
    speakers' talk shares summed to 0.85."""
    from mtmm_es.core.labels import summarise

    utterances = (
        UtteranceResult(0, 0.0, 3.0, "hello", speaker="S1"),
        UtteranceResult(1, 3.0, 4.0, ""),  # silence
        UtteranceResult(2, 4.0, 5.0, "hi", speaker="S2"),
    )
    speakers = summarise(utterances, 5.0)["speakers"]
    assert (speakers["S1"]["talk_share"], speakers["S2"]["talk_share"]) == (0.75, 0.25)
