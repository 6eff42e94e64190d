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
