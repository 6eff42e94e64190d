"""config.toml loading: typed, frozen, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from daemon.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


class TestLoadConfig:
    def test_the_shipped_config_loads_and_matches_the_defaults_it_documents(self) -> None:
        shipped = load_config(REPO / "config.toml")
        defaults = load_config(None)
        assert shipped.broker == defaults.broker
        assert shipped.strategy == defaults.strategy
        assert shipped.jobs == defaults.jobs
        assert str(shipped.market.replay_start) == "2018-01-02"

    def test_an_unknown_key_is_named_with_a_suggestion(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"broker\.comission_bps: unknown key; did you mean 'commission_bps'"):
            load_config(write(tmp_path, "[broker]\ncomission_bps = 3\n"))

    def test_a_wrong_type_names_the_key(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"broker\.commission_bps: Input should be a valid number"):
            load_config(write(tmp_path, '[broker]\ncommission_bps = "3"\n'))

    def test_an_out_of_range_value_names_the_key(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"market\.pace: must be > 0"):
            load_config(write(tmp_path, "[market]\npace = 0\n"))

    def test_a_bad_cron_spec_names_the_job(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"jobs\.rebalance\.cron: bad cron spec '61 16 \* \* \*'"):
            load_config(write(tmp_path, '[jobs.rebalance]\ncron = "61 16 * * *"\n'))

    def test_an_unknown_job_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"unknown job 'pull_everything'"):
            load_config(write(tmp_path, '[jobs.pull_everything]\ncron = "0 1 * * *"\n'))

    def test_a_missing_file_is_reported(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="config file not found"):
            load_config(tmp_path / "nope.toml")

    def test_invalid_toml_is_reported(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="not valid TOML"):
            load_config(write(tmp_path, "[broker\n"))

    def test_secrets_are_refused_with_a_pointer_to_the_environment(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"newsapi_api_key: secrets are not read from config files"):
            load_config(write(tmp_path, '[market]\nnewsapi_api_key = "abc"\n'))

    def test_one_job_can_be_tuned_without_losing_the_others(self, tmp_path: Path) -> None:
        config = load_config(write(tmp_path, '[jobs.rebalance]\ncron = "0 17 * * mon-fri"\n'))
        assert config.jobs["rebalance"].cron == "0 17 * * mon-fri"
        assert config.jobs["pull_prices"].cron == "30 16 * * mon-fri"

    def test_config_is_frozen_and_hash_tracks_values(self, tmp_path: Path) -> None:
        a = load_config(None)
        b = load_config(write(tmp_path, "[broker]\ncommission_bps = 2.0\n"))
        with pytest.raises(ValidationError):
            a.broker.commission_bps = 5  # type: ignore[misc]
        assert a.config_hash() != b.config_hash()
        assert a.config_hash() == load_config(None).config_hash()


class TestModelsTable:
    def test_the_shipped_models_table_is_what_tradingd_train_reads(self) -> None:
        from models.config import load_config as load_models_config

        assert load_config(REPO / "config.toml").models == load_models_config(REPO / "config.toml")

    def test_a_bad_models_key_names_it(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"models\.train\.epochs"):
            load_config(write(tmp_path, "[models.train]\nepochs = 0\n"))
