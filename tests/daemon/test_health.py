"""/healthz and /metrics served by the real daemon process on a free port (issue 9, part 4)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from testkit import TRADINGD, cli_env

pytestmark = pytest.mark.slow


def start(tmp_path: Path, start: str, pace: str, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """A daemon on any free port; returns it and the URL it logged."""
    config = tmp_path / "config.toml"
    config.write_text(f"[market]\nreplay_start = {start}\npace = {pace}\n")
    proc = subprocess.Popen(
        [*TRADINGD, "run", "--config", str(config), "--db", str(tmp_path / "t.db"), "--log-format", "json",
         "--http-listen", "127.0.0.1:0", *extra],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        record = json.loads(line)
        if record["event"] == "http_listening":
            return proc, record["url"]
    raise AssertionError(f"no http_listening line; stderr: {proc.stderr.read() if proc.stderr else ''}")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def poll(url: str, until, timeout: float = 120.0) -> tuple[int, str]:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = get(url)
        if until(status, body):
            return status, body
        time.sleep(0.2)
    raise AssertionError(f"{url}: last answer {status} {body[:300]}")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class TestEndpoints:
    def test_a_trading_daemon_is_healthy_and_reports_its_metrics(self, tmp_path: Path) -> None:
        proc, url = start(tmp_path, "2018-01-02", "5")
        try:
            status, body = poll(f"{url}/healthz", lambda s, b: s == 200 and json.loads(b)["last_bar"] is not None)
            health = json.loads(body)
            assert health["status"] == "ok" and health["heartbeat_age_s"] < 5
            _, text = poll(f"{url}/metrics", lambda s, b: 'tradingd_job_runs_total{job="rebalance",outcome="ok"}' in b)
            values = samples(text)
            assert values[("tradingd_events_published_total", (("type", "BarsClosed"),))] >= 1
            assert values[("tradingd_job_runs_total", (("job", "pull_prices"), ("outcome", "ok")))] >= 1
            assert values[("tradingd_job_seconds_count", (("job", "pull_prices"),))] >= 1
            assert any(name == "tradingd_handler_seconds_count" and dict(labels).get("subscriber", "").startswith("recorder:")
                       for name, labels in values)
            assert ("tradingd_queue_depth", (("subscriber", "metrics"),)) in values
            assert values[("tradingd_equity", ())] > 0
            assert values[("tradingd_cash", ())] >= 0 and ("tradingd_gross_exposure", ()) in values
            assert 0 <= values[("tradingd_last_bar_age_seconds", ())] < 5 * 86400
            assert values[("tradingd_rows_written_total", (("table", "equity"),))] >= 1
        finally:
            stop(proc)

    def test_health_turns_503_with_the_reason_once_the_newest_bar_is_too_old(self, tmp_path: Path) -> None:
        # The bundled data ends on 2022-12-28; the daemon keeps serving while time goes on.
        proc, url = start(tmp_path, "2022-12-20", "20")
        try:
            status, body = poll(f"{url}/healthz", lambda s, b: s == 503)
            answer = json.loads(body)
            assert answer["status"] == "unhealthy"
            assert "days old" in answer["reason"] and "market.max_staleness_days" in answer["reason"]
        finally:
            stop(proc)
