"""The sentiment service on real lakes, real SQLite files and a live bus."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from numpy.testing import assert_allclose
from structlog.testing import capture_logs

from core.bus import EventBus
from core.events import SentimentScored, TextsReceived
from daemon.sentiment import SentimentService, SentimentStore
from models.features import build_features
from models.sentiment import SentimentConfig
from state.lake import Lake
from state.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from sentiment_testkit import make_tiny_finbert, one_torch_thread  # noqa: E402, F401 (a fixture)

UNIVERSE = ("AAPL", "MSFT", "XOM", "ALL", "KEY", "ON")
NOW = pd.Timestamp("2024-08-02T00:00Z")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_finbert(tmp_path_factory.mktemp("finbert") / "tiny")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def texts_frame(rows: list[dict]) -> pd.DataFrame:
    base = {"channel": "AAPL", "source": "newsapi", "kind": "article", "author": None, "url": None,
            "parent_id": None, "score": None, "title": None, "text": None}
    frame = pd.DataFrame([{**base, **row} for row in rows])
    for column in ("ts", "available_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


AWKWARD = texts_frame([
    {"id": "1", "title": "Apple shares rise on record profit", "text": "Apple beat estimates.",
     "ts": "2024-08-01T20:00Z", "available_at": "2024-08-01T20:00Z"},
    # the same article, pulled for another ticker and again from Reddit with markup
    {"id": "2", "channel": "MSFT", "title": "Apple  shares rise on RECORD profit", "text": "Different teaser",
     "ts": "2024-08-01T20:05Z", "available_at": "2024-08-01T20:05Z"},
    {"id": "r1", "source": "reddit", "channel": "stocks", "kind": "post",
     "title": "<b>Apple shares rise on record profit</b>", "text": "", "ts": "2024-08-01T21:00Z",
     "available_at": "2024-08-01T21:00Z"},
    {"id": "3", "title": "", "text": "   \n\t ", "ts": "2024-08-01T20:10Z", "available_at": "2024-08-01T20:10Z"},
    {"id": "4", "title": None, "text": None, "ts": "2024-08-01T20:11Z", "available_at": "2024-08-01T20:11Z"},
    {"id": "5", "title": "Tesla deliveries beat", "text": "No universe name here",
     "ts": "2024-08-01T20:12Z", "available_at": "2024-08-01T20:12Z"},
    {"id": "6", "title": "ALL IN ON IT: KEY RATES", "text": "", "ts": "2024-08-01T20:13Z",
     "available_at": "2024-08-01T20:13Z"},
    {"id": "7", "title": "$KEY and $ON rally; Microsoft \U0001f680\U0001f680\U0001f680\U0001f4c8",
     "text": "\U0001f525" * 50, "ts": "2024-08-01T20:14Z", "available_at": "2024-08-01T20:14Z"},
    {"id": "8", "title": "Exxon <script>alert(1)</script><i>falls</i> &amp; misses",
     "text": b"oil prices fall " * 400 + b"\xff\xfe not UTF-8", "ts": "2024-08-01T20:15Z",
     "available_at": "2024-08-01T20:15Z"},
])  # fmt: skip


def make_service(tmp_path: Path, model: str, **config) -> SentimentService:
    store = SentimentStore(Lake(tmp_path / "lake"), tmp_path / "t.db", half_life_days=2.0)
    Store.open(tmp_path / "t.db").close()
    return SentimentService(SentimentConfig(model=model, threads=1, **config), universe=UNIVERSE, store=store)


class TestScoringAndStorage:
    def test_awkward_texts_are_cleaned_deduplicated_linked_and_stored_with_their_model(self, tmp_path, tiny):
        service = make_service(tmp_path, str(tiny))
        scored = service.process(AWKWARD, as_of=NOW, now=NOW)
        rows = scored.rows.set_index("id")
        assert scored.duplicates == 2 and scored.skipped == 2
        assert sorted(rows.index) == ["1", "5", "6", "7", "8"]
        assert (rows["model"] == str(tiny)).all()
        assert rows.loc["1", "symbols"] == "AAPL"
        assert rows.loc["5", "symbols"] == "" and rows.loc["6", "symbols"] == ""
        assert rows.loc["7", "symbols"] == "MSFT KEY ON"
        assert rows.loc["8", "symbols"] == "XOM" and "<" not in rows.loc["8", "snippet"]
        assert rows.loc["8", "snippet"].startswith("Exxon falls & misses. oil prices fall")
        assert ((rows["p_positive"] + rows["p_negative"] + rows["p_neutral"]).round(5) == 1).all()

        lake = service.store.lake
        stored = lake.read("sentiment", as_of=NOW)
        assert sorted(stored["id"]) == sorted(rows.index)
        daily = lake.read("sentiment_daily", as_of=NOW)
        assert sorted(daily["symbol"]) == ["AAPL", "KEY", "MSFT", "ON", "XOM"]
        with sqlite3.connect(tmp_path / "t.db") as conn:
            latest = conn.execute("select symbol, model, day, count from sentiment_latest order by symbol").fetchall()
        assert latest[0] == ("AAPL", str(tiny), "2024-08-01", 1) and len(latest) == 5

    def test_a_repull_and_a_restart_score_nothing_twice(self, tmp_path, tiny):
        make_service(tmp_path, str(tiny)).process(AWKWARD, as_of=NOW, now=NOW)
        restarted = make_service(tmp_path, str(tiny))
        again = restarted.process(AWKWARD.assign(id=AWKWARD["id"] + "-repull"), as_of=NOW, now=NOW)
        assert again.rows.empty and again.duplicates == 7
        assert len(restarted.store.lake.read("sentiment", as_of=NOW)) == 5

    def test_features_of_two_models_stay_apart(self, tmp_path, tiny, monkeypatch):
        make_service(tmp_path, str(tiny)).process(AWKWARD, as_of=NOW, now=NOW)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        vader = make_service(tmp_path, "no/such-model", cache_dir=str(tmp_path / "hf"))
        vader.process(AWKWARD, as_of=NOW, now=NOW)  # another model scores the same texts
        stored = vader.store.lake.read("sentiment", as_of=NOW)
        assert sorted(stored["model"].unique()) == sorted([str(tiny), "vader"])
        daily = vader.store.lake.read("sentiment_daily", ["AAPL"], as_of=NOW)
        assert sorted(daily["model"]) == sorted([str(tiny), "vader"]) and (daily["count"] == 1).all()
        with sqlite3.connect(tmp_path / "t.db") as conn:
            assert conn.execute("select count(*) from sentiment_latest where symbol = 'AAPL'").fetchone() == (2,)
        frame = vader.store.scores("vader", None, None, as_of=NOW)
        assert set(frame["model"]) == {"vader"}

    def test_a_text_known_after_the_decision_never_reaches_its_features(self, tmp_path, tiny):
        service = make_service(tmp_path, str(tiny))
        service.process(AWKWARD, as_of=NOW, now=NOW)
        late = texts_frame([{"id": "9", "title": "Apple falls hard, weak sales", "text": "",
                             "ts": "2024-08-01T21:30Z", "available_at": "2024-08-02T14:00Z"}])
        service.process(late, as_of=pd.Timestamp("2024-08-02T15:00Z"), now=NOW)
        prices = pd.DataFrame({"AAPL": [100.0, 101.0, 102.0]},
                              index=pd.DatetimeIndex(["2024-07-31T20:00", "2024-08-01T20:00", "2024-08-02T20:00"]))
        decision = pd.Timestamp("2024-08-02T13:59Z")
        known = service.store.scores(str(tiny), None, None, as_of=decision)
        everything = service.store.scores(str(tiny), None, None, as_of=pd.Timestamp("2024-08-03T00:00Z"))
        assert "9" not in set(known["id"]) and "9" in set(everything["id"])
        panel_known = build_features(prices, decision.tz_localize(None), sentiment=known)  # naive UTC grid
        panel_all = build_features(prices, decision.tz_localize(None), sentiment=everything)
        assert panel_known.values[1, 0, panel_known.names.index("sent_count_5")] > 0
        assert_allclose(panel_known.values, panel_all.values, equal_nan=True)


class LoopWitness:
    """The real scorer, which before and after scoring waits for the event loop to tick.

    If scoring ran on the loop, the loop could not tick while the scorer waits: the wait
    times out and the witness says so. Off the loop it ticks at once. Causal, not timed.
    """

    def __init__(self, scorer, ticked: threading.Event) -> None:
        self.scorer, self.name, self.ticked = scorer, scorer.name, ticked
        self.threads: list[int] = []
        self.loop_ticked: list[bool] = []

    def _loop_ticks(self) -> bool:
        self.ticked.clear()
        return self.ticked.wait(timeout=30)

    def score(self, texts, max_length=64):
        self.threads.append(threading.get_ident())
        self.loop_ticked.append(self._loop_ticks())
        scores = self.scorer.score(texts, max_length=max_length)
        self.loop_ticked.append(self._loop_ticks())
        return scores


class TestOffTheLoop:
    def test_the_event_loop_keeps_ticking_while_a_large_batch_scores(self, tmp_path, tiny):
        service = make_service(tmp_path, str(tiny), batch_size=16)
        ticked = threading.Event()
        witness = LoopWitness(service.scorer, ticked)  # the real model, loaded before the loop starts
        service._scorer = witness
        big = texts_frame([
            {"id": str(i), "title": f"Apple shares rise {i} as Microsoft and Exxon fall on weak oil prices",
             "text": "", "ts": "2024-08-01T20:00Z", "available_at": "2024-08-01T20:00Z"}
            for i in range(1500)
        ])  # fmt: skip
        published: list[SentimentScored] = []

        async def scenario() -> tuple[int, int, float]:
            bus = EventBus()
            service.attach(bus)
            bus.subscribe(SentimentScored, published.append, name="test")
            bus.start()
            service.start(asyncio.get_running_loop())
            beats = 0

            async def heartbeat() -> None:
                nonlocal beats
                while True:
                    beats += 1
                    ticked.set()
                    await asyncio.sleep(0.005)

            beat = asyncio.create_task(heartbeat())
            await asyncio.sleep(0.02)
            before, started = beats, time.perf_counter()
            await bus.publish_wait(TextsReceived(ts=NOW.to_pydatetime(), source="newsapi",
                                                 table=pa.Table.from_pandas(big, preserve_index=False)))
            await bus.join()
            during, scoring = beats - before, time.perf_counter() - started
            beat.cancel()
            await bus.stop()
            return threading.get_ident(), during, scoring

        with capture_logs() as logs:
            loop_thread, during, scoring = asyncio.run(scenario())
        print(f"scored 1500 texts in {scoring:.2f}s; {during} heartbeats meanwhile")
        assert len(published) == 1 and int(published[0].count.sum()) >= 1500
        assert any(e["event"] == "texts_scored" and e["scored"] == 1500 for e in logs)
        # one call scores the batch, in a worker thread, and the loop ticked before and after it
        assert len(witness.threads) == 1 and witness.threads[0] != loop_thread
        assert witness.loop_ticked == [True, True]
