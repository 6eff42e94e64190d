"""Sentiment in the forecasters: from a real lake into training rows, the `infer` job, and
the SQLite view, point in time throughout."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from structlog.testing import capture_logs

from daemon.sentiment import SentimentService, SentimentStore
from daemon.sentiment_training import export_training_rows, lake_rows
from models.config import DataConfig
from models.data import MarketData, load_bundled
from models.dataset import prepare
from models.features import build_features
from models.sentiment import SentimentConfig, VaderScorer
from models.sentiment.training import read_rows
from state.lake import Lake
from state.store import Store

SYMBOLS = ("AAPL", "MSFT", "XOM")
NAMES = {"AAPL": "Apple", "MSFT": "Microsoft", "XOM": "Exxon"}
SENT = ("sent_mean_5", "sent_count_5", "sent_pos_share_5", "sent_neg_share_5", "sent_decayed")


def texts(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """Lake ``texts`` rows from (id, title, available_at); ts an hour before availability."""
    frame = pd.DataFrame(
        [
            {"source": "newsapi", "channel": "markets", "id": i, "kind": "article", "author": None, "title": title,
             "text": "", "url": None, "parent_id": None, "score": None, "available_at": at}
            for i, title, at in rows
        ]
    )  # fmt: skip
    frame["available_at"] = pd.to_datetime(frame["available_at"], utc=True)
    frame["ts"] = frame["available_at"] - pd.Timedelta(hours=1)
    return frame


def news_history(start: str = "2018-10-01", end: str = "2019-07-31") -> pd.DataFrame:
    """One headline per symbol every business day, good or bad news by a fixed pattern."""
    rows = []
    for d, day in enumerate(pd.bdate_range(start, end)):
        for s, symbol in enumerate(SYMBOLS):
            good = (d + s) % 3 != 0
            verb = "rise on strong profit" if good else "fall on weak sales and a loss"
            rows.append((f"{symbol}-{d}", f"{NAMES[symbol]} shares {verb}, day {d}", f"{day:%Y-%m-%d}T14:30Z"))
    return texts(rows)


def score_into(tmp: Path, frame: pd.DataFrame, db: Path | None = None) -> SentimentStore:
    store = SentimentStore(Lake(tmp / "lake"), db, half_life_days=3.0)
    service = SentimentService(SentimentConfig(threads=1), universe=SYMBOLS, store=store, scorer=VaderScorer())
    as_of = frame["available_at"].max().to_pydatetime()
    service.process(frame, as_of=as_of, now=as_of)
    return store


def add_other_model(lake: Lake, model: str = "ProsusAI/finbert") -> None:
    """The same texts as scored by another model, with opposite scores: must never mix in."""
    rows = lake.read("sentiment", as_of=pd.Timestamp("2030-01-01", tz="UTC"))
    lake.write("sentiment", rows.assign(model=model, score=-rows["score"]))


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("sentiment-lake")
    Store.open(tmp / "t.db").close()
    score_into(tmp, news_history(), tmp / "t.db")
    add_other_model(Lake(tmp / "lake"))
    return tmp


class TestSentimentView:
    def test_the_view_shows_the_latest_day_per_symbol_and_model_for_a_person(self, lake_dir):
        with sqlite3.connect(lake_dir / "t.db") as conn:
            conn.row_factory = sqlite3.Row
            view = [dict(r) for r in conn.execute("select * from sentiment")]
            table = {r["symbol"]: dict(r) for r in conn.execute("select * from sentiment_latest")}
        assert list(view[0]) == ["symbol", "day", "score", "count", "positive", "negative", "decayed", "model",
                                 "available_at", "updated_at"]  # fmt: skip
        assert [r["symbol"] for r in view] == sorted(SYMBOLS)
        for row in view:
            latest = table[row["symbol"]]
            assert row["day"] == "2019-07-31" and row["model"] == "vader" and row["count"] == latest["count"] == 1
            assert row["score"] == round(latest["mean_score"], 3) and row["decayed"] == round(latest["decayed_score"], 3)
            assert row["positive"] + row["negative"] <= 1.0


class TestTrainingRows:
    def test_the_hand_over_file_holds_one_models_texts_known_at_the_window_end(self, lake_dir, tmp_path):
        data = DataConfig(start="2016-01-01", end="2019-03-29", sentiment="vader")
        with capture_logs() as logs:
            path = export_training_rows(Lake(lake_dir / "lake"), data, tmp_path / "rows.parquet")
        rows = read_rows(path)
        assert set(rows["model"]) == {"vader"} and set(rows["symbol"]) == set(SYMBOLS)
        assert rows["available_at"].max() <= pd.Timestamp("2019-03-29", tz="UTC")
        assert rows["available_at"].max() == pd.Timestamp("2019-03-28T14:30Z")  # the 29th's text came later that day
        ignored = [e for e in logs if e["event"] == "sentiment_other_models_ignored"]
        assert ignored and "ProsusAI/finbert" in ignored[0]["ignored"]

    def test_every_training_sample_sees_only_texts_known_at_its_decision_time(self, lake_dir):
        market = load_bundled("sp500_20", SYMBOLS, macro=False)
        everything = lake_rows(Lake(lake_dir / "lake"), "vader", "2030-01-01")
        cfg = DataConfig(start="2018-06-01", end="2019-06-28", symbols=SYMBOLS, use_macro=False, sentiment="vader")
        prep = prepare(cfg, MarketData(market.prices, None, {}, everything))
        index = [prep.panel.names.index(n) for n in SENT]
        avail = pd.to_datetime(everything["available_at"], utc=True).dt.tz_localize(None)
        for t in ("2018-10-02", "2018-11-15", "2019-01-02", "2019-06-28"):
            known = everything[avail <= pd.Timestamp(t)]
            alone = build_features(market.prices.loc[:t], t, sentiment=known)
            row = prep.panel.times.get_loc(pd.Timestamp(t))
            assert_allclose(prep.panel.values[row][:, index], alone.values[-1][:, [alone.names.index(n) for n in SENT]])
        first = prep.panel.times.get_loc(pd.Timestamp("2018-10-01"))
        assert (prep.panel.values[first][:, index] == 0).all()  # the first texts come at 14:30 that day
        assert (prep.panel.values[first + 1][:, index[1]] > 0).all()

    def test_a_text_available_after_a_decision_never_reaches_that_decisions_row(self, lake_dir):
        market = load_bundled("sp500_20", SYMBOLS, macro=False)
        rows = lake_rows(Lake(lake_dir / "lake"), "vader", "2030-01-01")
        late = rows.iloc[:1].assign(symbol="AAPL", score=-1.0, label="negative",
                                    available_at=pd.Timestamp("2019-01-15T00:00:01Z"))  # fmt: skip
        cfg = DataConfig(start="2018-06-01", end="2019-03-29", symbols=SYMBOLS, use_macro=False, sentiment="vader")
        base = prepare(cfg, MarketData(market.prices, None, {}, rows)).panel
        more = prepare(cfg, MarketData(market.prices, None, {}, pd.concat([rows, late]))).panel
        cut = base.times.get_loc(pd.Timestamp("2019-01-15"))
        assert_allclose(more.values[: cut + 1], base.values[: cut + 1])
        aapl = base.symbols.index("AAPL")
        assert more.values[cut + 1, aapl, base.names.index("sent_mean_5")] < base.values[cut + 1, aapl, base.names.index("sent_mean_5")]

    def test_the_retrain_job_hands_the_trainer_the_texts_known_at_its_window_end(self, lake_dir, tmp_path):
        from learning_testkit import learning_config

        from core.bus import EventBus
        from core.clock import ReplayClock
        from daemon.retrain import RetrainSupervisor, plan_retrain, torchrun_command

        base = learning_config(tmp_path).models
        cfg = base.model_copy(update={"data": base.data.model_copy(update={"sentiment": "vader"})})
        plan = plan_retrain(cfg, pd.Timestamp("2019-07-15"))
        clock = ReplayClock(pd.Timestamp("2019-07-15", tz="UTC").to_pydatetime())
        supervisor = RetrainSupervisor(cfg, EventBus(), clock, lake=Lake(lake_dir / "lake"))
        handed = supervisor._with_sentiment_rows(plan)  # what launch() starts torchrun with
        rows = read_rows(handed.data.sentiment_rows)
        assert set(rows["model"]) == {"vader"} and rows["available_at"].max() <= pd.Timestamp(plan.end, tz="UTC")
        assert f"data.sentiment_rows={json.dumps(str(handed.data.sentiment_rows))}" in torchrun_command(handed, plan)

    def test_training_with_sentiment_on_but_no_rows_says_which_key_to_set(self):
        market = load_bundled("sp500_20", SYMBOLS, macro=False)
        cfg = DataConfig(start="2018-06-01", end="2019-03-29", symbols=SYMBOLS, use_macro=False, sentiment="vader")
        with pytest.raises(ValueError, match="models.data.sentiment_rows"):
            prepare(cfg, market)

    def test_a_configured_model_without_rows_trains_zero_features_with_the_same_schema(self, lake_dir):
        market = load_bundled("sp500_20", SYMBOLS, macro=False)
        rows = lake_rows(Lake(lake_dir / "lake"), "vader", "2030-01-01")
        cfg = DataConfig(start="2018-06-01", end="2019-03-29", symbols=SYMBOLS, use_macro=False, sentiment="no-such")
        with capture_logs() as logs:
            panel = prepare(cfg, MarketData(market.prices, None, {}, rows)).panel
        assert {"sentiment_rows_missing", "sentiment_other_models_ignored"} <= {e["event"] for e in logs}
        assert set(SENT) <= set(panel.names)
        assert (panel.values[:, :, [panel.names.index(n) for n in SENT]] == 0).all()


def write_config(tmp: Path, sentiment: str) -> Path:
    """A daemon config.toml: the tiny TFT of the learning tests, data (and lake) under tmp."""
    from learning_testkit import write_config as learning_config_file

    return learning_config_file(tmp, tmp / "registry", replay_end="2019-07-31", data=f'sentiment = "{sentiment}"')


@pytest.fixture(scope="module")
def trained(lake_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(config.toml, checkpoint): `tradingd train` with VADER sentiment from a lake copy."""
    from daemon.cli import main
    from models.registry import list_checkpoints

    tmp = tmp_path_factory.mktemp("trained")
    shutil.copytree(lake_dir / "lake", tmp / "lake")
    config = write_config(tmp, "vader")
    assert main(["train", "--config", str(config)]) == 0
    (checkpoint,) = list_checkpoints(tmp / "registry")
    return config, checkpoint


def serving_inputs(sentiment: str, lake: Path):
    """The serving spec of the learning tests with ``sentiment``, July 2019's prices, the
    macro series and the rows serving would read as of the last day."""
    from learning_testkit import learning_config

    from models.data import load_macro
    from models.serving_spec import ServingSpec

    spec = replace(ServingSpec.from_config(learning_config(lake.parent).models), sentiment=sentiment)
    prices = load_bundled("sp500_20", macro=False).prices.loc[:"2019-07-31"].iloc[-300:]
    as_of = prices.index[-1]
    rows = lake_rows(Lake(lake), sentiment, as_of) if sentiment != "off" else None
    return spec, prices, as_of, load_macro(), rows


@pytest.mark.slow
class TestServingWithSentiment:
    def test_tradingd_train_reads_the_configured_models_sentiment_from_the_lake(self, trained):
        config, checkpoint = trained
        manifest = json.loads((checkpoint / "manifest.json").read_text())
        assert set(SENT) <= set(manifest["feature_names"])
        assert manifest["training_window"]["sentiment_model"] == "vader"
        rows = read_rows(config.parent / "runs" / "sentiment_rows.parquet")
        assert set(rows["model"]) == {"vader"} and len(rows) > 300
        assert rows["available_at"].max() <= pd.Timestamp("2019-03-29", tz="UTC")

    def test_infer_forecasts_with_the_sentiment_known_at_its_decision_time(self, trained, tmp_path):
        import asyncio

        from core.events import ForecastReady, ModelSwapped
        from daemon.app import build_app
        from daemon.backtest import run_backtest
        from daemon.config import load_config

        config, checkpoint = trained
        app = build_app(load_config(config), mode="live", db_path=tmp_path / "t.db", live=False)
        seen: list = []
        app.bus.subscribe(ForecastReady, seen.append, name="test:forecasts")
        app.bus.subscribe(ModelSwapped, seen.append, name="test:swaps")

        def infer() -> ForecastReady:
            assert asyncio.run(app.jobs.fire("infer"))
            app.bus.drain()
            return seen[-1]

        try:
            asyncio.run(run_backtest(app, progress=False))
            assert seen[0].version == checkpoint.name  # validated: serving built the schema it was trained on
            forecasts = [e for e in seen if isinstance(e, ForecastReady)]
            assert len(forecasts) >= 15 and {f.model for f in forecasts} == {checkpoint.name}
            before = infer()
            lake = config.parent
            score_into(lake, texts([("late", "Apple shares plunge on a record loss and weak sales", "2019-08-01T14:30Z")]))
            assert_allclose(infer().quantiles, before.quantiles)  # known after the decision: unseen
            score_into(lake, texts([("early", "Apple shares plunge on a record loss and weak sales", "2019-07-29T14:30Z")]))
            after = infer()
            changed = ~np.isclose(after.quantiles, before.quantiles).all(axis=1)
            assert [s for s, c in zip(after.symbols, changed, strict=True) if c] == ["AAPL"]
        finally:
            app.close("completed")

    def test_a_model_trained_without_sentiment_keeps_serving_the_same_forecasts_when_sentiment_is_on(
        self, champion, lake_dir
    ):
        from models.forecaster import feature_window
        from models.validation import fit_panel, load_for_serving

        _, path = champion
        spec, prices, as_of, macro, rows = serving_inputs("vader", lake_dir / "lake")
        with_sentiment = spec.panel(prices, as_of, macro, rows)
        assert set(SENT) <= set(with_sentiment.names)
        fc = load_for_serving(path, spec, with_sentiment)
        spec_off, *_ = serving_inputs("off", lake_dir / "lake")
        without = spec_off.panel(prices, as_of, macro)
        served = fc.forecast(feature_window(fit_panel(fc, with_sentiment), fc.encoder_length))
        plain = fc.forecast(feature_window(without, fc.encoder_length))
        assert_allclose(served.values, plain.values)

    @pytest.mark.parametrize(
        ("serving", "reason"),
        [("off", "serving builds none"), ("ProsusAI/finbert", "trained on 'vader' sentiment, serving reads")],
    )
    def test_a_model_trained_with_sentiment_is_refused_where_serving_builds_none_or_reads_another_model(
        self, trained, lake_dir, serving, reason
    ):
        from models.registry import CheckpointRejected
        from models.validation import load_for_serving

        _, checkpoint = trained
        spec, prices, as_of, macro, rows = serving_inputs(serving, lake_dir / "lake")
        with pytest.raises(CheckpointRejected, match=reason):
            load_for_serving(checkpoint, spec, spec.panel(prices, as_of, macro, rows))
