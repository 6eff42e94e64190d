"""The FinBERT path with a tiny BERT saved locally: loading, label mapping by name,
bucketed batching, int8 and ONNX Runtime against fp32, the VADER fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sentiment_testkit import make_tiny_finbert, one_torch_thread  # noqa: F401 (a fixture)

from models.sentiment import SentimentConfig, open_scorer
from models.sentiment.finbert import FinbertScorer, ModelUnavailable, load_pretrained
from models.sentiment.scores import LABELS, Scores, label_columns, length_buckets

# Documented in docs/models.md: the largest probability difference from fp32 we accept.
INT8_TOLERANCE = 0.05
ONNX_TOLERANCE = 0.05

TEXTS = [
    "Apple shares rise on record profit",
    "Exxon misses, stock falls",
    "the market",
    "Walmart beats and raises guidance for the year",
    "chip stocks plunge as rates rise " * 40,
    "a",
]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_finbert(tmp_path_factory.mktemp("finbert") / "tiny")


@pytest.fixture(scope="module")
def fp32(tiny: Path) -> FinbertScorer:
    return FinbertScorer.load(str(tiny), offline=True)


class TestLabelColumns:
    def test_names_map_in_any_order_and_case(self) -> None:
        assert list(label_columns({0: "Negative", 1: "NEUTRAL", 2: "positive"})) == [2, 0, 1]
        assert list(label_columns({"0": "neu", "1": "pos", "2": "neg"})) == [1, 2, 0]

    def test_positional_or_partial_labels_are_refused(self) -> None:
        with pytest.raises(ValueError, match="LABEL_0"):
            label_columns({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
        with pytest.raises(ValueError, match="neutral"):
            label_columns({0: "positive", 1: "negative"})
        with pytest.raises(ValueError):
            label_columns({0: "positive", 1: "positive", 2: "neutral"})


class TestLengthBuckets:
    def test_batches_hold_similar_lengths_and_cover_every_text(self) -> None:
        lengths = np.array([50, 3, 49, 4, 51, 2, 5])
        buckets = length_buckets(lengths, 3)
        assert sorted(np.concatenate(buckets).tolist()) == list(range(7))
        assert [sorted(lengths[b].tolist()) for b in buckets] == [[2, 3, 4], [5, 49, 50], [51]]


class TestFinbertScorer:
    def test_a_tiny_bert_loads_through_the_finbert_path_and_scores(self, fp32: FinbertScorer, tiny: Path) -> None:
        scores = fp32.score(TEXTS)
        assert scores.model == str(tiny)
        assert scores.probabilities.shape == (len(TEXTS), 3)
        assert_allclose(scores.probabilities.sum(axis=1), 1.0, rtol=1e-5)
        assert_allclose(scores.score, scores.probabilities[:, 0] - scores.probabilities[:, 1], atol=1e-7)
        assert len(set(np.round(scores.score, 6))) > 1  # the texts are told apart

    def test_a_different_id2label_order_yields_the_same_named_probabilities(self, fp32: FinbertScorer, tiny: Path,
                                                                           tmp_path: Path) -> None:
        shuffled = make_tiny_finbert(tmp_path / "shuffled", {0: "Neutral", 1: "POSITIVE", 2: "negative"},
                                     permute_from=tiny)
        other = FinbertScorer.load(str(shuffled), offline=True)
        assert_allclose(other.probabilities(TEXTS), fp32.probabilities(TEXTS), atol=1e-6)
        raw = other.model.config.id2label
        assert raw[1] == "POSITIVE"  # the raw column order really differs

    def test_bucketed_batches_score_as_texts_one_at_a_time(self, fp32: FinbertScorer) -> None:
        together = fp32.probabilities(TEXTS)
        alone = np.vstack([fp32.probabilities([t]) for t in TEXTS])
        assert_allclose(together, alone, atol=1e-5)

    def test_truncation_is_the_configured_length(self, fp32: FinbertScorer) -> None:
        long = TEXTS[4]
        assert len(fp32.encode([long], 64)[0]["input_ids"]) == 64
        assert len(fp32.encode([long], 128)[0]["input_ids"]) == 128
        assert not np.allclose(fp32.probabilities([long], 8), fp32.probabilities([long], 128))

    def test_no_texts_is_an_empty_result(self, fp32: FinbertScorer) -> None:
        assert fp32.score([]).probabilities.shape == (0, 3)

    def test_int8_dynamic_agrees_with_fp32_within_tolerance(self, fp32: FinbertScorer, tiny: Path) -> None:
        int8 = FinbertScorer.load(str(tiny), offline=True, backend="int8")
        diff = np.abs(int8.probabilities(TEXTS) - fp32.probabilities(TEXTS)).max()
        assert int8.name.endswith("+int8")
        assert 0 < diff < INT8_TOLERANCE  # quantised for real, and close

    def test_onnx_runtime_int8_agrees_with_fp32_within_tolerance(self, fp32: FinbertScorer, tiny: Path,
                                                                  tmp_path: Path) -> None:
        onnx = FinbertScorer.load(str(tiny), offline=True, backend="onnx", onnx_dir=tmp_path)
        diff = np.abs(onnx.probabilities(TEXTS) - fp32.probabilities(TEXTS)).max()
        assert onnx.name.endswith("+onnx-int8")
        assert 0 < diff < ONNX_TOLERANCE
        built = sorted(tmp_path.rglob("*.onnx"))
        assert len(built) == 1 and not list(tmp_path.rglob("*.tmp"))
        again = FinbertScorer.load(str(tiny), offline=True, backend="onnx", onnx_dir=tmp_path)
        assert again.model.path == built[0]  # reused, not re-exported

    def test_offline_without_a_cached_copy_is_a_clear_error(self, tmp_path: Path, monkeypatch) -> None:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(ModelUnavailable, match="offline"):
            load_pretrained("ProsusAI/finbert", cache_dir=str(tmp_path / "empty-cache"))

    def test_a_classifier_with_other_labels_is_refused(self, tmp_path: Path) -> None:
        folder = make_tiny_finbert(tmp_path / "generic", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
        with pytest.raises(ModelUnavailable, match="not a positive/negative/neutral"):
            load_pretrained(str(folder))


class TestOpenScorer:
    def test_the_configured_model_is_used_when_it_loads(self, tiny: Path) -> None:
        scorer, why = open_scorer(SentimentConfig(model=str(tiny)))
        assert why is None and scorer.name == str(tiny)

    def test_no_weights_falls_back_to_vader_and_says_why(self, tmp_path: Path, monkeypatch) -> None:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        scorer, why = open_scorer(SentimentConfig(cache_dir=str(tmp_path)))
        assert scorer.name == "vader" and "ProsusAI/finbert" in why
        scores = scorer.score(["Great results, shares soar!", "Terrible losses, a disaster", ""])
        assert isinstance(scores, Scores) and scores.model == "vader"
        assert scores.score[0] > 0.3 and scores.score[1] < -0.3 and scores.score[2] == 0
        assert scores.labels == ("positive", "negative", "neutral")
        assert_allclose(scores.probabilities.sum(axis=1), 1.0, atol=2e-3)
        assert LABELS == ("positive", "negative", "neutral")

    def test_fallback_none_raises_instead(self, tmp_path: Path, monkeypatch) -> None:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(ModelUnavailable):
            open_scorer(SentimentConfig(cache_dir=str(tmp_path), fallback="none"))
