"""`tradingd job pull_*` exits 1 when every key failed, 0 with a count when some did (issue 9, part 5)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from testkit import TRADINGD, cli_env

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "feeds"))
from feeds_testkit import Loopback, Step, fixture  # noqa: E402

pytestmark = pytest.mark.slow

GOOD = Step(body=fixture("newsapi/everything_AAPL_page1.json"))
MALFORMED = Step(body=b'{"status": "ok", "articles": [{')


def pull_news(tmp_path: Path, steps: list[Step]) -> tuple[int, str, str]:
    """``tradingd job pull_news`` (AAPL then MSFT) against a loopback NewsAPI."""
    server = Loopback({"/v2/everything": steps})

    async def scenario() -> tuple[int, str, str]:
        async with server.running():
            config = tmp_path / "config.toml"
            config.write_text(
                '[market]\nreplay_start = 2018-01-02\nsymbols = ["AAPL", "MSFT"]\n'
                f'[feeds.newsapi]\nbase_url = "{server.url}/v2"\ntimeout_s = 5.0\n'
                "[feeds.newsapi.retry]\nattempts = 1\n"
            )
            proc = await asyncio.create_subprocess_exec(
                *TRADINGD, "job", "pull_news", "--config", str(config), "--db", str(tmp_path / "t.db"),
                cwd=tmp_path, env=cli_env() | {"TRADINGD_NEWSAPI_KEY": "test-key-0123456789"},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 180)
            assert proc.returncode is not None
            return proc.returncode, out.decode(), err.decode()

    return asyncio.run(scenario())


class TestPullExitCodes:
    def test_every_key_failing_exits_1_naming_the_failure(self, tmp_path: Path) -> None:
        code, _, err = pull_news(tmp_path, [MALFORMED])
        assert code == 1, err
        assert "every key failed (2 of 2" in err.splitlines()[-1]
        assert "test-key-0123456789" not in err

    def test_some_keys_failing_exits_0_with_the_count(self, tmp_path: Path) -> None:
        code, out, err = pull_news(tmp_path, [GOOD, MALFORMED])
        assert code == 0, err
        assert out.startswith("pull_news: ") and "1 key(s) failed" in out
