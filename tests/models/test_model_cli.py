import subprocess
import sys

import pytest

from models import registry
from models.cli import train_main, tune_main


class TestTrainMain:
    def test_help_exits_zero(self, capsys):
        assert train_main(["--help"]) == 0
        assert "--eval-folds" in capsys.readouterr().out

    def test_an_unknown_flag_is_a_bad_argument(self):
        assert train_main(["--no-such-flag"]) == 2

    @pytest.mark.slow
    def test_python_m_models_is_the_entry_point_and_the_old_one_says_so(self):
        run = [sys.executable, "-m"]
        help_text = subprocess.run([*run, "models", "--help"], capture_output=True, text=True)
        assert help_text.returncode == 0 and "--eval-folds" in help_text.stdout
        old = subprocess.run([*run, "models.train", "--help"], capture_output=True, text=True)
        assert old.returncode == 1 and "python -m models" in old.stderr

    def test_a_bad_value_is_a_bad_config_naming_the_key(self, capsys):
        assert train_main(["--epochs", "0"]) == 2
        assert "train.epochs:" in capsys.readouterr().err

    def test_a_runtime_failure_exits_one_with_a_one_line_reason(self, capsys, tmp_path):
        code = train_main(
            [
                "--symbols",
                "NOPE",
                "--registry",
                str(tmp_path / "r"),
                "--run-dir",
                str(tmp_path / "x"),
            ]
        )
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1
        assert err[-1].startswith("tradingd train: failed: ValueError: symbols not in universe")

    @pytest.mark.slow
    def test_trains_with_walk_forward_evaluation_and_publishes(self, tmp_path):
        args = [
            "--symbols",
            "AAPL,JPM,KO,XOM,PG",
            "--start",
            "2012-01-01",
            "--end",
            "2016-12-30",
            "--family",
            "lstm",
            "--set",
            "model.variant='vanilla'",
            "--set",
            "model.num_layers=1",
            "--set",
            "model.hidden_size=8",
            "--set",
            "data.encoder_length=10",
            "--epochs",
            "2",
            "--max-steps-per-epoch",
            "3",
            "--batch-size",
            "32",
            "--eval-folds",
            "2",
            "--registry",
            str(tmp_path / "reg"),
            "--run-dir",
            str(tmp_path / "run"),
        ]
        assert train_main(args) == 0
        path = registry.latest(tmp_path / "reg")
        manifest = registry.verify(path)
        summary = manifest.evaluation_summary
        assert set(summary["verdict"]) == {"ret_1", "ret_5", "ret_20", "rv_20"}
        assert set(summary["summary"]["rv_20"]) == {"model", "hist_mean", "garch"}
        assert (path / "evaluation.json").exists()


class TestTuneMain:
    def test_a_bad_storage_url_is_a_bad_config(self, capsys):
        assert tune_main(["--storage", "redis://x"]) == 2
        assert "tune.storage:" in capsys.readouterr().err
