"""tradingd sentiment score | backfill | top, as a user runs them (real subprocesses, a real
lake and SQLite file)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from testkit import TRADINGD, cli_env

from state.lake import Lake

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from sentiment_testkit import make_tiny_finbert  # noqa: E402


def tradingd(*args: str, cwd: Path, offline: bool = True) -> subprocess.CompletedProcess[str]:
    env = cli_env() | ({"HF_HUB_OFFLINE": "1"} if offline else {})
    return subprocess.run([*TRADINGD, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def write_config(tmp_path: Path, **sentiment: str) -> Path:
    lines = "".join(f'{k} = "{v}"\n' for k, v in sentiment.items())
    path = tmp_path / "config.toml"
    path.write_text(f'[run]\ndata_dir = "{tmp_path / "data"}"\n\n[sentiment]\nthreads = 1\n{lines}')
    return path


HEADLINES = [
    ("AAPL", "Apple shares soar to a wonderful record after great results"),
    ("AAPL", "Apple faces a terrible lawsuit, shares slump badly"),
    ("MSFT", "Microsoft wins a huge contract, a great success"),
    ("XOM", "Exxon suffers disastrous losses as oil crashes"),
    ("XOM", "Oil market update for the week"),
    ("AAPL", "   "),
]


def store_texts(tmp_path: Path, days: int = 3) -> int:
    rows = []
    for day in range(days):
        for i, (channel, title) in enumerate(HEADLINES):
            at = pd.Timestamp("2024-03-04T14:00Z") + pd.Timedelta(days=day, minutes=i)
            rows.append({"channel": channel, "ts": at, "available_at": at, "source": "newsapi", "id": f"{day}-{i}",
                         "kind": "article", "author": None, "title": f"{title} (day {day})" if title.strip() else title,
                         "text": None, "url": None, "parent_id": None, "score": None})
    Lake(tmp_path / "data" / "lake").write("texts", pd.DataFrame(rows))
    return len(rows)


class TestScore:
    def test_scores_with_the_configured_model_and_names_it(self, tmp_path: Path) -> None:
        tiny = make_tiny_finbert(tmp_path / "tiny")
        config = write_config(tmp_path, model=str(tiny))
        result = tradingd("sentiment", "score", "Apple shares rise", "", "$KEY and ALL", "--json",
                          "--config", str(config), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        assert out["model"] == str(tiny) and out["fallback_reason"] is None
        first, empty, words = out["texts"]
        assert first["symbols"] == ["AAPL"] and first["label"] in ("positive", "negative", "neutral")
        assert abs(first["positive"] + first["negative"] + first["neutral"] - 1) < 1e-3
        assert empty["skipped"] == "empty text" and words["symbols"] == []  # not in the universe

    def test_without_weights_it_says_it_used_vader(self, tmp_path: Path) -> None:
        config = write_config(tmp_path, cache_dir=str(tmp_path / "empty-cache"))
        result = tradingd("sentiment", "score", "Great quarter, shares soar!", "Awful, shares crash",
                          "--config", str(config), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        head, good, bad = result.stdout.splitlines()
        assert head.startswith("model: vader (fallback: cannot load 'ProsusAI/finbert' offline")
        assert "positive" in good and "negative" in bad


class TestBackfillAndTop:
    @pytest.mark.slow
    def test_backfill_is_resumable_and_idempotent_and_top_shows_the_extremes(self, tmp_path: Path) -> None:
        config = write_config(tmp_path, cache_dir=str(tmp_path / "empty-cache"))
        total = store_texts(tmp_path, days=3)
        db = tmp_path / "data" / "tradingd.db"
        # An interrupted backfill: only the first day got scored.
        first = tradingd("sentiment", "backfill", "--start", "2024-03-04", "--end", "2024-03-04",
                         "--config", str(config), cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert "6 texts, 5 scored with vader, 0 already scored or duplicates, 1 empty" in first.stdout
        rest = tradingd("sentiment", "backfill", "--start", "2024-03-01", "--end", "2024-03-31",
                        "--config", str(config), cwd=tmp_path)
        assert f"{total} texts, 10 scored with vader, 5 already scored or duplicates, 3 empty" in rest.stdout
        again = tradingd("sentiment", "backfill", "--start", "2024-03-01", "--end", "2024-03-31",
                         "--config", str(config), cwd=tmp_path)
        assert f"{total} texts, 0 scored with vader, 15 already scored or duplicates, 3 empty" in again.stdout
        lake = Lake(tmp_path / "data" / "lake")
        rows = lake.read("sentiment", as_of=pd.Timestamp.now(tz="UTC"))
        assert len(rows) == 15 and set(rows["model"]) == {"vader"}
        with sqlite3.connect(db) as conn:
            latest = dict(conn.execute("select symbol, day from sentiment_latest where model = 'vader'").fetchall())
        assert latest == {"AAPL": "2024-03-06", "MSFT": "2024-03-06", "XOM": "2024-03-06"}

        top = tradingd("sentiment", "top", "--symbol", "AAPL", "--days", "100000", "--limit", "2", "--json",
                       "--config", str(config), cwd=tmp_path)
        assert top.returncode == 0, top.stderr
        out = json.loads(top.stdout)
        assert out["model"] == "vader"
        assert all("soar" in r["snippet"] for r in out["most positive"])
        assert all("lawsuit" in r["snippet"] for r in out["most negative"])
        assert all("AAPL" in r["symbols"] for side in ("most positive", "most negative") for r in out[side])

    def test_an_inverted_window_is_a_usage_error(self, tmp_path: Path) -> None:
        result = tradingd("sentiment", "backfill", "--start", "2024-03-05", "--end", "2024-03-01",
                          "--config", str(write_config(tmp_path)), cwd=tmp_path)
        assert result.returncode == 2 and "--end is before --start" in result.stderr
