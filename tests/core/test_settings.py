"""The config foundation: one base, one loader, one error type that names the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import ConfigError, Section, load_config, validate
from daemon.config import load_config as load_daemon_config
from models.config import RunConfig
from strategies.portfolio_config import PortfolioConfig
from strategies.risk.config import RiskConfig


class Inner(Section):
    size: int = 1
    bounds: tuple[float, float] = (0.0, 1.0)


class Outer(Section):
    inner: Inner = Inner()
    names: tuple[str, ...] = ()
    tags: list[str] | None = None


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


class TestSection:
    def test_a_string_for_a_number_is_refused_in_every_config(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"^risk\.target_vol: Input should be a valid number"):
            load_daemon_config(write(tmp_path, '[risk]\ntarget_vol = "0.1"\n'))
        with pytest.raises(ConfigError, match=r"^allocation\.lookback: Input should be a valid integer"):
            load_daemon_config(write(tmp_path, '[allocation]\nlookback = "252"\n'))
        with pytest.raises(ConfigError, match=r"^models\.train\.lr: Input should be a valid number"):
            load_daemon_config(write(tmp_path, '[models.train]\nlr = "1e-3"\n'))

    def test_every_config_table_shares_the_one_base(self) -> None:
        for model in (RiskConfig, PortfolioConfig, RunConfig):
            assert issubclass(model, Section)
        with pytest.raises(ValidationError):
            RiskConfig().target_vol = 0.2  # type: ignore[misc]

    def test_toml_arrays_become_tuples_at_every_depth(self) -> None:
        cfg = validate(Outer, {"inner": {"bounds": [0, 0.5]}, "names": ["a", "b"], "tags": ["x"]})
        assert cfg.inner.bounds == (0.0, 0.5) and cfg.names == ("a", "b")
        assert cfg.tags == ["x"]  # a field declared as a list keeps the list

    def test_every_problem_is_one_line_naming_its_key(self) -> None:
        with pytest.raises(ConfigError) as info:
            validate(Outer, {"inner": {"size": "2", "sise": 3}})
        assert info.value.problems == [
            "inner.size: Input should be a valid integer",
            "inner.sise: unknown key; did you mean 'size'?",
        ]


class TestLoadConfig:
    def test_located_lines_name_the_file(self, tmp_path: Path) -> None:
        path = write(tmp_path, "[inner]\nsize = 0.5\n")
        with pytest.raises(ConfigError) as info:
            load_config(Outer, path)
        assert info.value.located() == [f"{path}: inner.size: Input should be a valid integer"]

    def test_overrides_merge_into_nested_tables(self, tmp_path: Path) -> None:
        path = write(tmp_path, "[inner]\nsize = 5\n")
        cfg = load_config(Outer, path, {"inner": {"bounds": [0.1, 0.2]}})
        assert cfg.inner == Inner(size=5, bounds=(0.1, 0.2))

    def test_a_table_is_read_when_present_and_named_in_errors(self, tmp_path: Path) -> None:
        path = write(tmp_path, "[outer.inner]\nsize = -1.5\n")
        with pytest.raises(ConfigError, match=r"^outer\.inner\.size: "):
            load_config(Outer, path, table="outer")
        assert load_config(Outer, write(tmp_path, "names = ['x']\n"), table="outer").names == ("x",)

    def test_a_misspelt_key_in_a_named_or_tagged_table_gets_a_hint(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"jobs\.rebalance\.crn: unknown key; did you mean 'cron'"):
            load_daemon_config(write(tmp_path, '[jobs.rebalance]\ncrn = "0 1 * * *"\n'))
        path = write(tmp_path, "[models.model.tft]\nhiden_size = 8\n")
        with pytest.raises(ConfigError, match=r"models\.model\.tft\.hiden_size: unknown key; did you mean 'hidden_size'"):
            load_daemon_config(path)

    def test_secrets_are_refused_in_any_config_file(self, tmp_path: Path) -> None:
        path = write(tmp_path, '[models.data]\napi_key = "abc"\n')
        with pytest.raises(ConfigError, match=r"models\.data\.api_key: secrets are not read"):
            load_config(RunConfig, path, table="models")
