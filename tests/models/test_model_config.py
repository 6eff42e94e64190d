from pathlib import Path

import pytest
from pydantic import ValidationError

from models.config import (
    ConfigError,
    HybridConfig,
    LSTMConfig,
    RunConfig,
    TFTConfig,
    load_config,
    parse_override,
)


class TestLoadConfig:
    def test_reads_the_models_table_of_a_daemon_config(self, tmp_path):
        path = tmp_path / "config.toml"
        path.write_text(
            '[daemon]\nx = 1\n[models.model]\nfamily = "lstm"\nvariant = "vanilla"\nnum_layers = 1\n'
            "[models.train]\nepochs = 3\n"
        )
        cfg = load_config(path)
        assert isinstance(cfg.model, LSTMConfig) and cfg.train.epochs == 3

    def test_overrides_win_over_the_file(self, tmp_path):
        path = tmp_path / "train.toml"
        path.write_text("[train]\nlr = 0.01\n")
        cfg = load_config(
            path, [parse_override("train.lr=2e-4"), parse_override("data.horizons=[1, 5]")]
        )
        assert cfg.train.lr == 2e-4 and cfg.data.horizons == (1, 5)

    def test_errors_name_the_dotted_key(self, tmp_path):
        path = tmp_path / "config.toml"
        path.write_text("[models.train]\nlr = -1\nbogus = 2\n")
        with pytest.raises(ConfigError) as err:
            load_config(path)
        lines = str(err.value).splitlines()
        assert any(line.startswith("models.train.lr:") for line in lines)
        assert any(line.startswith("models.train.bogus:") for line in lines)

    def test_a_model_table_without_family_means_tft(self):
        cfg = load_config(None, [("model.hidden_size", 32), ("model.num_heads", 4)])
        assert isinstance(cfg.model, TFTConfig) and cfg.model.hidden_size == 32


class TestModelConfigs:
    def test_tft_per_variable_width_defaults_to_8_and_reaches_the_model(self):
        from models.factory import ModelDims, build_model

        assert TFTConfig().hidden_continuous_size == 8
        cfg = load_config(None, [("model.hidden_size", 16), ("model.hidden_continuous_size", 4)])
        model = build_model(cfg.model, ModelDims(5, 2, 3, 2, 3))
        assert model.past_embedding.weight.shape == (5, 1, 4)
        with pytest.raises(ConfigError, match=r"^model\.hidden_continuous_size:"):
            load_config(None, [("model.hidden_continuous_size", 0)])

    def test_configs_are_frozen_and_forbid_unknown_keys(self):
        cfg = RunConfig()
        with pytest.raises(ValidationError):
            cfg.train.lr = 1.0  # type: ignore[misc]
        with pytest.raises(ValidationError):
            TFTConfig(hidden_size=16, num_heads=4, nope=1)

    def test_cross_field_rules_are_checked(self):
        with pytest.raises(ValidationError, match="divisible"):
            TFTConfig(hidden_size=30, num_heads=4)
        with pytest.raises(ValidationError, match="vanilla"):
            LSTMConfig(variant="vanilla", num_layers=2)
        with pytest.raises(ValidationError):
            HybridConfig(preset="custom", conv_blocks=6)

    def test_label_horizon_covers_the_volatility_target(self):
        assert RunConfig().data.label_horizon == 20
        assert (
            load_config(
                None, [("data.horizons", [1, 5]), ("data.vol_target", False)]
            ).data.label_horizon
            == 5
        )


class TestFamilySubTables:
    SHIPPED = Path(__file__).resolve().parents[2] / "config.toml"

    def test_the_shipped_config_switches_family_from_the_command_line(self):
        for family, kind in (("tft", TFTConfig), ("lstm", LSTMConfig), ("hybrid", HybridConfig)):
            cfg = load_config(self.SHIPPED, [("model.family", family)])
            assert isinstance(cfg.model, kind)
        assert load_config(self.SHIPPED).model.hidden_size == 64  # [models.model.tft]
        assert load_config(self.SHIPPED, [("model.family", "lstm")]).model.hidden_size == 128

    def test_tradingd_train_takes_family_with_the_shipped_file(self, capsys):
        from models.cli import train_main

        # Gets past the config (exit 2) to the data, where the bogus symbol fails (exit 1).
        code = train_main(["--config", str(self.SHIPPED), "--family", "lstm", "--symbols", "NOPE"])
        assert code == 1 and "symbols not in universe" in capsys.readouterr().err

    def test_keys_directly_under_model_apply_to_the_picked_family(self, tmp_path):
        path = tmp_path / "train.toml"
        path.write_text('[model]\nfamily = "lstm"\nhidden_size = 16\n[model.lstm]\nhidden_size = 8\n')
        assert load_config(path).model.hidden_size == 16

    def test_a_typo_in_a_family_not_picked_is_still_an_error(self, tmp_path):
        path = tmp_path / "train.toml"
        path.write_text('[model]\nfamily = "tft"\n[model.lstm]\nhiden_size = 8\n')
        with pytest.raises(ConfigError, match=r"model\.lstm\.hiden_size: unknown key"):
            load_config(path)

    def test_a_tuned_config_round_trips_through_its_dump(self):
        cfg = load_config(self.SHIPPED, [("model.family", "hybrid")])
        assert RunConfig.model_validate(cfg.model_dump()) == cfg
