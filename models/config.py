"""Typed, frozen, validated configuration for the forecasting models, training and tuning.

One `RunConfig` holds everything a training or tuning run needs. It is read from a TOML file
(either the whole file, or its `[models]` table when the file is the daemon's config.toml)
with `--set key.path=value` overrides from the command line, validated once, and never
mutated. Sections, loader and errors are `core.settings`'s; errors name the dotted key
(`models.train.lr: ...`).

Each family keeps its settings in its own sub-table (`[models.model.tft]`,
`[models.model.lstm]`, `[models.model.hybrid]`) and `model.family` picks one, so
`tradingd train --family lstm` works on a file that also sizes the TFT. `RunConfig.model`
is the picked family's config; keys set directly under `[model]` (or `--set
model.hidden_size=32`) apply to the picked family.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator

from core import settings
from core.settings import ConfigError, IsoDate, Section

__all__ = [
    "ConfigError",
    "DataConfig",
    "FAMILIES",
    "HybridConfig",
    "LSTMConfig",
    "ModelConfig",
    "RetrainConfig",
    "RunConfig",
    "ServeConfig",
    "SwapConfig",
    "TFTConfig",
    "TrainConfig",
    "TuneConfig",
    "HYBRID_PRESETS",
    "load_config",
]


Quantiles = tuple[float, ...]


class TFTConfig(Section):
    """Temporal Fusion Transformer. The product brief's production range is hidden 256–512,
    heads 4–8, LSTM layers 2–4, dropout 0.1–0.3; smaller sizes are allowed for tests."""

    family: Literal["tft"] = "tft"
    hidden_size: int = Field(256, ge=4, le=2048)
    num_heads: int = Field(4, ge=1, le=16)
    lstm_layers: int = Field(2, ge=1, le=4)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    # Per-variable width of the real inputs before selection (the paper's and
    # pytorch-forecasting's name); the selected mix is widened to hidden_size.
    hidden_continuous_size: int = Field(8, ge=1, le=2048)

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> TFTConfig:
        if self.hidden_size % self.num_heads:
            raise ValueError("hidden_size must be divisible by num_heads")
        return self


class LSTMConfig(Section):
    """LSTM baselines: `vanilla` (1 layer), `stacked` (2–4 layers), `bidirectional` (over the
    encoder window only, so it never sees past the decision time)."""

    family: Literal["lstm"] = "lstm"
    variant: Literal["vanilla", "stacked", "bidirectional"] = "stacked"
    hidden_size: int = Field(128, ge=4, le=4096)
    num_layers: int = Field(2, ge=1, le=4)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _layers_match_variant(self) -> LSTMConfig:
        if self.variant == "vanilla" and self.num_layers != 1:
            raise ValueError("num_layers must be 1 for variant 'vanilla'")
        if self.variant == "stacked" and not 2 <= self.num_layers <= 4:
            raise ValueError("num_layers must be 2–4 for variant 'stacked'")
        return self


HYBRID_PRESETS: dict[str, dict[str, int]] = {
    # d_model, blocks and layers chosen so that the parameter counts land near the names;
    # tests/models/test_hybrid.py checks them on the meta device.
    "tiny": dict(d_model=16, conv_blocks=3, lstm_layers=2, transformer_layers=4, num_heads=2),
    "small": dict(d_model=64, conv_blocks=3, lstm_layers=2, transformer_layers=4, num_heads=4),
    "100m": dict(d_model=896, conv_blocks=5, lstm_layers=3, transformer_layers=8, num_heads=8),
    "500m": dict(d_model=1920, conv_blocks=5, lstm_layers=3, transformer_layers=8, num_heads=8),
}


class HybridConfig(Section):
    """CNN-LSTM-Transformer hybrid. `preset` fills the size fields; explicit fields win."""

    family: Literal["hybrid"] = "hybrid"
    preset: Literal["tiny", "small", "100m", "500m", "custom"] = "tiny"
    d_model: int = Field(16, ge=4, le=8192)
    conv_blocks: int = Field(3, ge=3, le=5)
    kernel_size: int = Field(3, ge=2, le=9)
    lstm_layers: int = Field(2, ge=2, le=3)
    transformer_layers: int = Field(4, ge=4, le=8)
    num_heads: int = Field(2, ge=1, le=32)
    ff_mult: int = Field(4, ge=1, le=8)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset", "tiny") in HYBRID_PRESETS:
            return {**HYBRID_PRESETS[data.get("preset", "tiny")], **data}
        return data

    @model_validator(mode="after")
    def _heads_divide_model(self) -> HybridConfig:
        if self.d_model % self.num_heads:
            raise ValueError("d_model must be divisible by num_heads")
        return self


ModelConfig = Annotated[TFTConfig | LSTMConfig | HybridConfig, Field(discriminator="family")]
FAMILIES: dict[str, type[Section]] = {"tft": TFTConfig, "lstm": LSTMConfig, "hybrid": HybridConfig}

# A folder: a TOML string or a Path.
Folder = Annotated[Path, BeforeValidator(lambda v: Path(v) if isinstance(v, str) else v)]


def _pick_family(table: dict[str, Any]) -> dict[str, Any]:
    """`[model]` with per-family sub-tables -> the picked family's settings (flat keys win).

    The sub-tables of the families not picked are validated too, so a typo there is not
    silent until someone switches family."""
    flat = dict(table)
    family = flat.pop("family", "tft")
    subs = {name: flat.pop(name) for name in FAMILIES if isinstance(flat.get(name), dict)}
    for name, sub in subs.items():
        if name != family:
            try:
                FAMILIES[name].model_validate(sub)
            except ValidationError as exc:
                first = settings.format_validation_error(exc, model=FAMILIES[name])[0]
                raise ValueError(f"model.{name}.{first}") from None
    return {"family": family, **subs.get(family, {}), **flat}


class DataConfig(Section):
    """What the model sees and predicts. Dates bound the training window (inclusive)."""

    universe: Literal["sp500_20", "indices"] = "sp500_20"
    symbols: tuple[str, ...] | None = None
    start: IsoDate = dt.date(2005, 1, 1)
    end: IsoDate = dt.date(2019, 12, 31)
    encoder_length: int = Field(60, ge=2, le=1024)
    horizons: tuple[int, ...] = (1, 5, 20)
    vol_target: bool = True
    vol_horizon: int = Field(20, ge=2, le=252)
    quantiles: Quantiles = (0.1, 0.5, 0.9)
    use_macro: bool = True
    val_fraction: float = Field(0.2, gt=0.0, lt=0.9)
    embargo: int = Field(5, ge=0)
    sample_stride: int = Field(1, ge=1)
    # "off", or the scoring model whose texts train and serve (docs/models.md); the texts:
    # a Parquet file, written from the daemon's lake by tradingd train / retrain when unset
    sentiment: str = Field("off", min_length=1)
    sentiment_rows: Folder | None = None

    @field_validator("horizons")
    @classmethod
    def _horizons(cls, h: tuple[int, ...]) -> tuple[int, ...]:
        if not h or h[0] < 1 or list(h) != sorted(set(h)):
            raise ValueError("must be strictly increasing positive integers")
        return h

    @field_validator("quantiles")
    @classmethod
    def _quantiles(cls, q: Quantiles) -> Quantiles:
        if not q or list(q) != sorted(set(q)) or q[0] <= 0 or q[-1] >= 1:
            raise ValueError("must be strictly increasing inside (0, 1)")
        return q

    @model_validator(mode="after")
    def _window(self) -> DataConfig:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self

    @property
    def label_horizon(self) -> int:
        """The furthest day any label looks ahead: the minimum purge between splits."""
        return max(max(self.horizons), self.vol_horizon if self.vol_target else 0)


class TrainConfig(Section):
    epochs: int = Field(50, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-2, ge=0)
    warmup_fraction: float = Field(0.05, ge=0, lt=1)
    grad_clip: float = Field(1.0, gt=0)
    patience: int = Field(10, ge=1)
    seed: int = 0
    grad_checkpointing: bool = False
    max_steps_per_epoch: int | None = Field(None, ge=1)
    eval_folds: int = Field(0, ge=0, le=20)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # torchrun workers for the daemon's retrain job: "auto" = every visible CUDA device
    # (NCCL + bf16), else 2 CPU processes (gloo).
    nproc_per_node: int | Literal["auto"] = "auto"


class TuneConfig(Section):
    """Optuna study. `storage` is `sqlite:///path.db`, a `postgresql://` URL, or
    `journal:path.log` (a JournalStorage file, safe for several machines on a shared disk)."""

    storage: str = "journal:data/optuna.log"
    study_name: str = "tradingd"
    n_trials: int = Field(20, ge=1)
    workers: int = Field(1, ge=1, le=64)
    pruner: Literal["hyperband", "median"] = "hyperband"
    seed: int | None = None
    lr: tuple[float, float] = (1e-4, 3e-3)
    dropout: tuple[float, float] = (0.1, 0.3)
    hidden_sizes: tuple[int, ...] = (256, 384, 512)
    num_heads: tuple[int, ...] = (4, 8)
    layers: tuple[int, int] = (2, 4)

    @field_validator("storage")
    @classmethod
    def _storage(cls, url: str) -> str:
        if not url.startswith(("sqlite:///", "postgresql", "journal:")):
            raise ValueError("must start with sqlite:///, postgresql or journal:")
        return url

    @field_validator("lr", "dropout", "layers")
    @classmethod
    def _range(cls, pair: tuple) -> tuple:
        if pair[0] > pair[1]:
            raise ValueError("must be [low, high] with low <= high")
        return pair


# -- the daemon's learning loop (issue 11): serving, swap checks, scheduled retraining --


class ServeConfig(Section):
    """``[models.serve]``: what the `infer` job publishes. `tilt_target` is the return
    target whose quantiles go on the bus as `ForecastReady` (the portfolio tilt's input)."""

    tilt_target: str = "ret_20"
    history_days: int = Field(300, ge=100, description="bars of history for the features")
    # Intra-op threads for inference: a 20-symbol forecast is tiny, and more threads only
    # contend with the event loop and the GARCH workers.
    threads: int = Field(1, ge=1, le=256)


class SwapConfig(Section):
    """``[models.swap]``: a challenger's holdout pinball loss may exceed the champion's by at
    most `tolerance` (relative: 0.02 = 2 %); the holdout is the last `holdout_days` labelled
    days after the challenger's training window, and needs at least `min_holdout_days`."""

    tolerance: float = Field(0.02, ge=0.0)
    holdout_days: int = Field(60, ge=5)
    min_holdout_days: int = Field(20, ge=1)


class RetrainConfig(Section):
    """``[models.retrain]``: the daemon's `retrain` job. The training window is the
    `window_days` calendar days before the job's time, less the swap holdout."""

    window_days: int = Field(3650, ge=90)
    timeout_s: float = Field(3600.0, gt=0)
    nnodes: int = Field(1, ge=1)
    rdzv_endpoint: str | None = None  # multi-node: passed through to torchrun
    heartbeat_s: float = Field(10.0, gt=0, description="loop heartbeat log while a retrain runs")

    @model_validator(mode="after")
    def _multi_node(self) -> RetrainConfig:
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise ValueError("rdzv_endpoint (host:port) is required when nnodes > 1")
        return self


class RunConfig(Section):
    model: ModelConfig = Field(default_factory=TFTConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    registry_dir: Folder = Path("data/registry")
    run_dir: Folder = Path("data/runs/train")
    publish: bool = True
    serve: ServeConfig = Field(default_factory=ServeConfig)
    swap: SwapConfig = Field(default_factory=SwapConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    # How a backtest's `retrain` job trains: in this process, or under torchrun like live.
    backtest_retrain: Literal["inprocess", "torchrun"] = "inprocess"

    @model_validator(mode="before")
    @classmethod
    def _picked_family(cls, data: Any) -> Any:
        # A `[model]` table without `family` means the default family (tft).
        if isinstance(data, dict) and isinstance(data.get("model"), dict):
            data = {**data, "model": _pick_family(data["model"])}
        return data


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    *parents, leaf = dotted.split(".")
    for key in parents:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: {key} is not a table")
        node = child
    node[leaf] = value


def parse_override(text: str) -> tuple[str, Any]:
    """`key.path=value` with the value read as TOML (`3`, `1e-3`, `"x"`, `[1, 5]`, `true`);
    a bare word that is not valid TOML is taken as a string."""
    if "=" not in text:
        raise ConfigError(f"{text}: override must look like key.path=value")
    key, raw = (part.strip() for part in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def load_config(path: Path | None = None, overrides: list[tuple[str, Any]] | None = None) -> RunConfig:
    """Read TOML (its `[models]` table if present), apply dotted overrides, validate once.

    Raises `core.settings.ConfigError` whose lines each start with the offending key
    (`models.train.lr: ...` when read from a daemon config's `[models]` table).
    """
    tree: dict[str, Any] = {}
    for key, value in overrides or []:
        _set_dotted(tree, key, value)
    return settings.load_config(RunConfig, path, tree, table="models")
