"""`tradingd models ...` as a real subprocess on a real database and registry."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from learning_testkit import break_checkpoint, copy_checkpoint, with_state, write_config
from testkit import TRADINGD, cli_env

pytestmark = pytest.mark.slow


def tradingd(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRADINGD, "models", *args, "--config", str(tmp / "config.toml"), "--db", str(tmp / "tradingd.db")],
        cwd=tmp, env=cli_env(), capture_output=True, text=True, timeout=300,
    )


@pytest.fixture
def setup(champion, tmp_path: Path) -> tuple[Path, str, str, str]:
    """A registry with the champion, a slightly different good version and a worse one."""
    _, path = champion
    registry = tmp_path / "registry"
    registry.mkdir()
    shutil.copytree(path, registry / path.name)
    good = "29991231T000000000000Z-tft-good"
    with_state(copy_checkpoint(path, registry, good), lambda s: {k: v * 1.0001 for k, v in s.items()})
    worse = "29991231T000000000001Z-tft-worse"
    break_checkpoint(copy_checkpoint(path, registry, worse), "worse", tmp_path / "unused")
    write_config(tmp_path, registry)
    return tmp_path, path.name, good, worse


class TestModelsCommand:
    def test_activate_checks_records_and_rollback_restores(self, setup) -> None:
        tmp, champion, good, worse = setup
        done = tradingd(tmp, "activate", champion, "--as-of", "2019-07-31", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["activated"] == champion

        refused = tradingd(tmp, "activate", worse, "--as-of", "2019-07-31")
        assert refused.returncode == 1 and "worse than the champion" in refused.stderr

        switched = tradingd(tmp, "activate", good, "--as-of", "2019-07-31", "--json")
        assert switched.returncode == 0, switched.stderr
        result = json.loads(switched.stdout)
        assert result["previous"] == champion and result["metrics"]["holdout_days"] >= 20

        listed = {r["version"]: r for r in json.loads(tradingd(tmp, "list", "--json").stdout)}
        assert listed[good]["status"] == "active" and listed[champion]["status"] == "retired"
        assert listed[worse]["status"] == "rejected" and "worse" in listed[worse]["reason"]

        back = tradingd(tmp, "rollback", "--json")
        assert back.returncode == 0 and json.loads(back.stdout) == {"rejected": good, "active": champion}
        shown = json.loads(tradingd(tmp, "show", champion, "--json").stdout)
        assert shown["status"] == "active" and shown["reason"] == "rollback"
        assert shown["manifest"]["training_window"]["end"] == "2019-03-29"

    def test_force_skips_the_checks_and_says_so(self, setup) -> None:
        tmp, _, _, worse = setup
        forced = tradingd(tmp, "activate", worse, "--force", "--json")
        assert forced.returncode == 0 and json.loads(forced.stdout)["forced"] is True
        shown = json.loads(tradingd(tmp, "show", worse, "--json").stdout)
        assert shown["status"] == "active" and shown["reason"] == "operator --force"

    def test_an_unknown_version_is_bad_input(self, setup) -> None:
        tmp, *_ = setup
        done = tradingd(tmp, "show", "nope")
        assert done.returncode == 2 and "unknown model version 'nope'" in done.stderr
        assert tradingd(tmp, "rollback").returncode == 1
