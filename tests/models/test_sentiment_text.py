"""Text hygiene, entity linking and daily sentiment features: pure functions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from models.features import build_features
from models.sentiment import DEFAULT_ALIASES, EntityLinker, SentimentConfig, clean_text, content_hash, daily_features

UNIVERSE = ("AAPL", "MSFT", "ALL", "IT", "KEY", "ON", "GE", "BAC", "PG")


@pytest.fixture
def linker() -> EntityLinker:
    config = SentimentConfig(aliases={"ON": ["onsemi", "ON Semiconductor"]})
    return EntityLinker(UNIVERSE, config.alias_table(), config.english_word_tickers)


class TestCleanText:
    def test_html_entities_and_whitespace_are_removed(self) -> None:
        raw = "<p>Apple&nbsp;<b>beats</b> &amp; raises</p>\n\n<script>var x = '<b>';</script>  guidance"
        assert clean_text(raw) == "Apple beats & raises guidance"

    def test_non_utf8_bytes_become_replacement_characters(self) -> None:
        assert clean_text(b"Apple \xff\xfe rises") == "Apple \ufffd\ufffd rises"

    def test_empty_whitespace_and_none_are_empty(self) -> None:
        assert clean_text("") == clean_text("  \t\n ") == clean_text(None) == ""

    def test_newsapi_truncation_marks_are_dropped(self) -> None:
        assert clean_text("Apple on Thursday forecast... [+2841 chars]") == "Apple on Thursday forecast"

    def test_emoji_survive(self) -> None:
        assert clean_text("🚀🚀 $AAPL 🚀") == "🚀🚀 $AAPL 🚀"


class TestContentHash:
    def test_the_same_words_hash_the_same_across_case_spacing_and_markup(self) -> None:
        assert content_hash("Apple  beats", "<b>Shares</b> rise") == content_hash("apple beats", "shares RISE")

    def test_different_texts_or_fields_hash_differently(self) -> None:
        assert content_hash("Apple beats") != content_hash("Apple misses")
        assert content_hash("a", "b c") != content_hash("a b", "c")


class TestEntityLinker:
    def test_cashtags_link_in_any_case(self, linker: EntityLinker) -> None:
        assert linker.link("Buying $aapl and $MSFT today") == ("AAPL", "MSFT")

    def test_tickers_link_as_whole_upper_case_words_only(self, linker: EntityLinker) -> None:
        assert linker.link("AAPL and MSFT up") == ("AAPL", "MSFT")
        assert linker.link("AAPLX fund, xMSFT, aapl lower case") == ()

    def test_english_word_tickers_need_a_cashtag_or_an_alias(self, linker: EntityLinker) -> None:
        assert linker.link("ALL IN ON IT: KEY RATES ARE ON THE MOVE") == ()
        assert linker.link("$ALL and $KEY report; $it too") == ("ALL", "IT", "KEY")
        assert linker.link("onsemi guides up") == ("ON",)

    def test_company_names_link_case_insensitively_as_whole_words(self, linker: EntityLinker) -> None:
        assert linker.link("apple's quarter; Bank of America upgrades Microsoft") == ("AAPL", "MSFT", "BAC")
        assert linker.link("Pineapple prices and snapple") == ()
        assert linker.link("P&G and Procter & Gamble") == ("PG",)

    def test_a_text_about_nothing_in_the_universe_links_nothing(self, linker: EntityLinker) -> None:
        assert linker.link("Tesla deliveries beat estimates") == ()
        assert linker.link("") == ()

    def test_aliases_of_symbols_outside_the_universe_are_ignored(self) -> None:
        linker = EntityLinker(("AAPL",), DEFAULT_ALIASES)
        assert linker.link("Microsoft and Apple") == ("AAPL",)


def texts(rows: list[tuple[str, float, str]], model: str = "m") -> pd.DataFrame:
    symbol, score, at = zip(*rows, strict=True)
    return pd.DataFrame({"symbol": symbol, "score": score, "model": model, "available_at": pd.to_datetime(at)})


class TestDailyFeatures:
    def test_per_symbol_day_mean_count_shares_and_decayed_score(self) -> None:
        frame = texts([
            ("A", 1.0, "2024-01-01T10:00Z"), ("A", -1.0, "2024-01-02T10:00Z"),
            ("B", 0.5, "2024-01-02T11:00Z"), ("A", 0.0, "2024-01-02T12:00Z"),
        ])  # fmt: skip
        daily = daily_features(frame, half_life_days=1.0).set_index(["symbol", "ts"])
        day2 = daily.loc[("A", pd.Timestamp("2024-01-02", tz="UTC"))]
        assert day2["count"] == 2 and day2["mean_score"] == -0.5
        assert day2["share_positive"] == 0 and day2["share_negative"] == 0.5
        assert day2["available_at"] == pd.Timestamp("2024-01-02T12:00Z")
        w = np.array([0.5 ** (26 / 24), 0.5 ** (2 / 24), 1.0])
        assert_allclose(day2["decayed_score"], (w @ [1.0, -1.0, 0.0]) / w.sum())
        assert daily.loc[("B", pd.Timestamp("2024-01-02", tz="UTC")), "decayed_score"] == 0.5

    def test_several_models_are_refused(self) -> None:
        both = pd.concat([texts([("A", 1.0, "2024-01-01T10:00Z")], "finbert"),
                          texts([("A", 0.2, "2024-01-01T10:00Z")], "vader")])
        with pytest.raises(ValueError, match="several models"):
            daily_features(both, 3.0)


class TestBuildFeaturesSentiment:
    prices = pd.DataFrame({"A": np.linspace(100, 110, 10), "B": np.linspace(50, 40, 10)},
                          index=pd.bdate_range("2024-01-01", periods=10) + pd.Timedelta(hours=21))

    def test_a_text_known_after_the_decision_never_reaches_its_features(self) -> None:
        decision = self.prices.index[5]
        before = texts([("A", 0.8, "2024-01-05T12:00Z")])
        after = pd.concat([before, texts([("A", -0.9, str(decision + pd.Timedelta(minutes=1)) + "Z")])])
        honest = build_features(self.prices, decision, sentiment=before)
        with_late = build_features(self.prices, decision, sentiment=after)
        assert_allclose(with_late.values, honest.values, equal_nan=True)
        # ...while a later decision does see it.
        later = build_features(self.prices, self.prices.index[6], sentiment=after)
        f = later.names.index("sent_neg_share_5")
        assert later.values[6, 0, f] == pytest.approx(0.5)

    def test_shares_and_decayed_score_enter_the_panel(self) -> None:
        frame = texts([("A", 0.8, "2024-01-02T12:00Z"), ("A", -0.6, "2024-01-03T12:00Z")])
        panel = build_features(self.prices, self.prices.index[-1], sentiment=frame, sentiment_half_life_days=2.0)
        names = list(panel.names)
        for name in ("sent_mean_5", "sent_count_5", "sent_pos_share_5", "sent_neg_share_5", "sent_decayed"):
            assert name in names
        t = 2  # 2024-01-03 close: both texts known
        assert panel.values[t, 0, names.index("sent_pos_share_5")] == pytest.approx(0.5)
        w = 0.5 ** (np.array([33 / 24, 9 / 24]) / 2.0)  # ages at the 21:00 close
        assert panel.values[t, 0, names.index("sent_decayed")] == pytest.approx((w @ [0.8, -0.6]) / w.sum(), rel=1e-5)
        assert panel.values[0, 0, names.index("sent_decayed")] == 0.0  # nothing known yet
        assert (panel.values[:, 1, names.index("sent_count_5")] == 0).all()

    def test_scores_of_two_models_are_never_averaged(self) -> None:
        mixed = pd.concat([texts([("A", 0.8, "2024-01-02T12:00Z")], "ProsusAI/finbert"),
                           texts([("A", 0.1, "2024-01-02T12:00Z")], "vader")])
        with pytest.raises(ValueError, match="mixes models"):
            build_features(self.prices, self.prices.index[-1], sentiment=mixed)


class TestTrainingData:
    def test_training_features_never_see_a_text_published_after_the_window(self) -> None:
        import dataclasses
        import datetime as dt

        from models_testkit import synthetic_market

        from models.config import DataConfig
        from models.dataset import prepare

        market = synthetic_market(n_symbols=2, n_days=120)
        s0 = market.prices.columns[0]
        end = market.prices.index[99]
        cfg = DataConfig(start=dt.date(2010, 2, 1), end=end.date(), encoder_length=10, use_macro=False, sentiment="m")
        inside = texts([(s0, 0.7, str(market.prices.index[50]))])
        late = pd.concat([inside, texts([(s0, -0.9, str(end + pd.Timedelta(days=1)))])])
        honest = prepare(cfg, dataclasses.replace(market, sentiment=inside)).panel
        leaky_input = prepare(cfg, dataclasses.replace(market, sentiment=late)).panel
        assert "sent_mean_5" in honest.names
        assert_allclose(leaky_input.values, honest.values, equal_nan=True)
        off = prepare(cfg.model_copy(update={"sentiment": "off"}), dataclasses.replace(market, sentiment=inside)).panel
        assert not any(n.startswith("sent_") for n in off.names)  # sentiment off: the frame is not used


class TestSentimentConfig:
    def test_aliases_and_word_tickers_come_from_toml_and_replace_defaults_per_symbol(self, tmp_path) -> None:
        from daemon.config import load_config

        path = tmp_path / "c.toml"
        path.write_text('[sentiment]\nenglish_word_tickers = ["on", "all"]\n\n'
                        '[sentiment.aliases]\nAAPL = ["Apple Computer"]\nON = "onsemi"\n')
        config = load_config(path).sentiment
        table = config.alias_table()
        assert table["AAPL"] == ("Apple Computer",) and table["ON"] == ("onsemi",)
        assert table["MSFT"] == ("Microsoft",)  # defaults kept for the others
        assert config.english_word_tickers == ("ON", "ALL")

    def test_bad_values_name_the_key(self, tmp_path) -> None:
        from daemon.config import ConfigError, load_config

        path = tmp_path / "c.toml"
        path.write_text('[sentiment.aliases]\nAAPL = [""]\n')
        with pytest.raises(ConfigError, match=r"sentiment\.aliases.*AAPL"):
            load_config(path)
        path.write_text('[sentiment]\nheadline_max_length = 128\nbody_max_length = 64\n')
        with pytest.raises(ConfigError, match="sentiment.body_max_length: must be >= headline_max_length"):
            load_config(path)
        path.write_text('[sentiment]\nbackend = "gpu"\n')
        with pytest.raises(ConfigError, match="sentiment.backend"):
            load_config(path)
