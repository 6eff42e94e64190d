"""Deployment files: the unit and the image run commands this tradingd accepts.

No systemd or Docker engine runs here, so these check what can be checked without one:
the commands parse, the copied paths exist, secrets stay out of the files.
"""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

from daemon.cli_parser import build_parser

REPO = Path(__file__).resolve().parent.parent


class TestSystemdUnit:
    def test_is_a_notify_service_whose_command_parses(self) -> None:
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.optionxform = str  # type: ignore[assignment, method-assign]
        unit.read(REPO / "deploy/tradingd.service")
        service = unit["Service"]
        assert service["Type"] == "notify" and service["KillSignal"] == "SIGTERM"
        assert int(service["WatchdogSec"]) > 0 and service["Restart"] == "on-failure"
        argv = shlex.split(service["ExecStart"])
        assert argv[0].endswith("/tradingd")
        args = build_parser().parse_args(argv[1:])
        assert args.command == "run" and args.config == "/etc/tradingd/config.toml"


class TestContainer:
    def test_copies_what_exists_and_runs_a_command_that_parses(self) -> None:
        text = (REPO / "deploy/Dockerfile").read_text()
        for source in re.findall(r"^COPY (\S+)", text, flags=re.M):
            assert (REPO / source).exists(), source
        assert re.search(r"^USER tradingd$", text, flags=re.M)
        cmd = re.search(r'^CMD \[(.*)\]$', text, flags=re.M).group(1)
        argv = [part.strip().strip('"') for part in cmd.split(",")]
        assert build_parser().parse_args(argv).command == "run"

    def test_the_healthcheck_asks_healthz_on_the_configured_address(self) -> None:
        from daemon.config import load_config

        text = (REPO / "deploy/Dockerfile").read_text()
        check = re.search(r"^HEALTHCHECK .*\n\s+CMD (.*)$", text, flags=re.M).group(1)
        listen = load_config(REPO / "config.toml").service.http_listen
        assert f"http://{listen}/healthz" in check

    def test_no_secret_values_in_deploy_files_or_config(self) -> None:
        for path in [*(REPO / "deploy").iterdir(), REPO / "config.toml"]:
            text = path.read_text()
            assert not re.search(r"TRADINGD_\w+_(KEY|SECRET)\s*=\s*\S", text), path


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    import pytest

    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    script = Path(sys.executable).parent / "tradingd"
    unit = (REPO / "deploy/tradingd.service").read_text().replace("/opt/tradingd/.venv/bin/tradingd", str(script))
    path = tmp_path / "tradingd.service"
    path.write_text(unit)
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
