"""The offline HTML report: written by real `tradingd` processes, checked against SQLite."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from dashboard_testkit import query
from numpy.testing import assert_allclose
from testkit import TRADINGD, cli_env

pytestmark = pytest.mark.slow


def embedded(html: str) -> dict:
    found = re.search(r"<script id='tradingd-report' type='application/json'>(.*?)</script>", html, re.S)
    assert found, "the report embeds its figures as JSON"
    return json.loads(found.group(1))


@pytest.fixture(scope="module")
def report(backtest_db, report_file: Path) -> tuple[Path, str, str, dict]:
    db, run_id = backtest_db
    html = report_file.read_text()
    return db, run_id, html, embedded(html)


def stat(data: dict, key: str) -> dict:
    return next(row for row in data["statistics"] if row["key"] == key)


class TestNumbers:
    def test_the_reports_figures_are_the_runs_figures_in_sqlite(self, report) -> None:
        db, run_id, _, data = report
        equity = np.array([e for (e,) in query(db, "select equity from equity where run_id = ? order by ts", run_id)])
        (fees, slip, fills), = query(db, "select sum(fee), sum(cost), count(*) from fills where run_id = ?", run_id)
        series = np.concatenate([[1_000_000.0], equity])
        daily = series[1:] / series[:-1] - 1
        assert data["run_id"] == run_id
        assert stat(data, "final_equity")["ours"] == equity[-1]
        assert_allclose(stat(data, "total_return")["ours"], equity[-1] / 1_000_000 - 1, rtol=1e-12)
        assert_allclose(stat(data, "max_drawdown")["ours"], (series / np.maximum.accumulate(series) - 1).min())
        assert_allclose(stat(data, "sharpe")["ours"], daily.mean() / daily.std(ddof=1) * math.sqrt(252))
        assert_allclose(stat(data, "fees")["ours"], fees)
        assert_allclose(stat(data, "slippage_cost")["ours"], slip)
        assert stat(data, "fills")["ours"] == fills

    def test_vectorbt_replaying_the_same_fills_agrees_with_ours(self, report) -> None:
        _, _, _, data = report
        for key in ("final_equity", "total_return", "ann_volatility", "sharpe", "max_drawdown", "fees", "fills"):
            row = stat(data, key)
            assert row["vectorbt"] is not None, key
            assert_allclose(row["vectorbt"], row["ours"], rtol=1e-9, err_msg=key)

    def test_the_benchmark_is_the_equal_weight_buy_and_hold_of_the_universe(self, report) -> None:
        from skfolio.datasets import load_sp500_dataset

        db, run_id, _, data = report
        first, last = (ts[:10] for ts in query(db, "select min(ts), max(ts) from equity where run_id = ?", run_id)[0])
        prices = load_sp500_dataset().loc[first:last]
        expected = (prices.iloc[-1] / prices.iloc[0]).mean() - 1
        row = stat(data, "benchmark_return")
        assert_allclose(row["ours"], expected, rtol=1e-12)
        assert_allclose(row["vectorbt"], expected, rtol=1e-9)


class TestSelfContained:
    def test_plotly_is_inlined_and_nothing_is_fetched_from_a_network(self, report) -> None:
        from plotly.offline import get_plotlyjs

        _, _, html, data = report
        assert get_plotlyjs() in html  # the whole library, inline
        assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", html)  # nothing loaded from elsewhere
        assert html.count("Plotly.newPlot(") == 6
        assert data["charts"] == 6
        sections = re.findall(r"<section><h2>(.*?)</h2>", html)
        assert sections == ["Statistics", "Equity and drawdown", "Monthly returns", "Rolling Sharpe and volatility",
                            "Turnover and costs", "Weights over time", "Risk limits bound over time"]


class TestCommands:
    def test_backtest_with_report_writes_the_report_of_the_run_it_just_made(self, tmp_path: Path) -> None:
        db, out = tmp_path / "t.db", tmp_path / "out" / "bt.html"
        result = subprocess.run(
            [*TRADINGD, "backtest", "--db", str(db), "--start", "2015-01-01", "--end", "2015-03-31",
             "--json", "--report", str(out)],
            cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        data = embedded(out.read_text())
        assert data["run_id"] == summary["run_id"]
        assert stat(data, "final_equity")["ours"] == summary["final_equity"]

    def test_report_without_a_database_fails_with_one_line(self, tmp_path: Path) -> None:
        result = subprocess.run([*TRADINGD, "report", "--db", str(tmp_path / "x.db"), "--out", str(tmp_path / "r.html")],
                                cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120)
        assert result.returncode == 1
        assert result.stderr.strip() == f"tradingd: no database at {tmp_path / 'x.db'} (has the daemon run yet?)"
        assert not (tmp_path / "r.html").exists()

    def test_report_of_an_unknown_run_names_it(self, backtest_db, tmp_path: Path) -> None:
        db, _ = backtest_db
        result = subprocess.run([*TRADINGD, "report", "--db", str(db), "--run", "nope", "--out", str(tmp_path / "r.html")],
                                cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120)
        assert result.returncode == 1
        assert "no run 'nope'" in result.stderr


class TestDashboardCommand:
    def test_a_missing_database_fails_before_starting_a_server(self, tmp_path: Path) -> None:
        result = subprocess.run([*TRADINGD, "dashboard", "--db", str(tmp_path / "x.db")],
                                cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120)
        assert result.returncode == 1
        assert result.stderr.strip() == f"tradingd: no database at {tmp_path / 'x.db'} (has the daemon run yet?)"

    def test_a_bad_port_is_bad_input_naming_the_argument(self, tmp_path: Path) -> None:
        result = subprocess.run([*TRADINGD, "dashboard", "--port", "70000"],
                                cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120)
        assert result.returncode == 2
        assert "argument --port: must be between 1 and 65535" in result.stderr
