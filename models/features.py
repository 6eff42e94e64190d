"""Point-in-time feature and label construction from plain DataFrames.

`build_features` never uses a row after `as_of`: prices and volume are cut at `as_of`, and
macro / sentiment rows enter at their `available_at` time (not the period they describe).
A macro or sentiment frame without `available_at` is refused rather than guessed at.

Shapes: T = trading days, N = symbols, F = features, K = target slots, F_future = known-future
inputs per slot.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.sentiment.daily import label_from_score

__all__ = [
    "FUTURE_NAMES",
    "FeaturePanel",
    "PointInTime",
    "build_features",
    "build_targets",
    "known_future",
    "prepare_point_in_time",
    "schema_hash",
    "serving_window",
    "target_names",
]

RETURN_WINDOWS = (1, 5, 20, 60)
VOL_WINDOWS = (20, 60)
MACRO_CHANGE = 63  # one quarter of trading days: slow macro series move little day to day
SENTIMENT_WINDOW = 5
FUTURE_NAMES = ("log_horizon", "is_vol", "dow_sin", "dow_cos", "month_sin", "month_cos")


@dataclass(frozen=True, slots=True)
class FeaturePanel:
    """values: (T, N, F) float32, NaN during each feature's warm-up; times: (T,) <= as_of."""

    times: pd.DatetimeIndex
    symbols: tuple[str, ...]
    names: tuple[str, ...]
    values: np.ndarray
    as_of: pd.Timestamp


def schema_hash(*name_lists: tuple[str, ...]) -> str:
    """sha256 of the ordered feature / input / target names: a model only accepts a panel
    built with exactly the schema it was trained on."""
    return hashlib.sha256(json.dumps([list(n) for n in name_lists]).encode()).hexdigest()


def _calendar(times: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    dow, month = times.day_of_week.to_numpy(), times.month.to_numpy() - 1
    return {
        "dow_sin": np.sin(2 * np.pi * dow / 5),
        "dow_cos": np.cos(2 * np.pi * dow / 5),
        "month_sin": np.sin(2 * np.pi * month / 12),
        "month_cos": np.cos(2 * np.pi * month / 12),
    }


def _price_features(prices: pd.DataFrame, volume: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """(T, N) arrays per feature over the rows of `prices` (NaN in each warm-up)."""
    px = prices.to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero or missing price: NaN later
        logp = np.log(px)
        daily = _diff(logp, 1)
        out = {f"ret_{w}": _diff(logp, w) for w in RETURN_WINDOWS}
        out |= {f"vol_{w}": _rolling(daily, w, _sample_std) for w in VOL_WINDOWS}
        sma = {w: _rolling(px, w, np.mean) for w in (10, 20, 50, 100)}
        out["px_ma_20"] = np.log(px / sma[20])
        out["px_ma_100"] = np.log(px / sma[100])
        out["ma_10_50"] = np.log(sma[10] / sma[50])
        if volume is not None:
            v = volume.reindex_like(prices).to_numpy(dtype=np.float64)
            logv = np.log(np.where(v > 0, v, np.nan))
            out["vlm_z_20"] = logv - _rolling(logv, 20, np.mean)
            out["vlm_5_60"] = _rolling(logv, 5, np.mean) - _rolling(logv, 60, np.mean)
    return out


def _diff(values: np.ndarray, lag: int) -> np.ndarray:
    """(T, N) ``values[t] - values[t - lag]``; NaN for the first `lag` rows."""
    out = np.full(values.shape, np.nan)
    out[lag:] = values[lag:] - values[:-lag]
    return out


def _sample_std(windows: np.ndarray, axis: int) -> np.ndarray:
    return np.std(windows, axis=axis, ddof=1)


# Elements of the (rows, columns, window) temporaries of one `_rolling` step.
_ROLLING_CHUNK = 1 << 22


def _rolling(values: np.ndarray, window: int, reduce) -> np.ndarray:
    """(T, N) `reduce` (np.mean, `_sample_std`) over each trailing `window` rows; NaN for the
    first ``window - 1`` rows and wherever the window holds a NaN.

    Each window is reduced on its own (not as a running sum), so a value depends only on
    its window's rows: the same wherever the frame starts (`serving_window` relies on it).
    Columns go in chunks that bound the (T, N, window) temporaries of the reduction.
    """
    rows, columns = values.shape
    out = np.full(values.shape, np.nan)
    if rows < window:
        return out
    step = max(1, _ROLLING_CHUNK // (rows * window))
    for j in range(0, columns, step):
        windows = np.lib.stride_tricks.sliding_window_view(values[:, j : j + step], window, axis=0)
        out[window - 1 :, j : j + step] = reduce(windows, axis=-1)
    return out


@dataclass(frozen=True, slots=True)
class PointInTime:
    """A ts-indexed frame with `available_at`, sorted once for repeated as-of lookups.

    available: (R,) datetime64[ns] ascending (rows with the same time keep the frame's
    order, the last one wins); values: (R, C) float64 of the value columns. Parsing and
    sorting is the cost of an as-of join, so the serving path (one lookup per bar) keeps
    these instead of the frames (`prepare_point_in_time`).
    """

    available: np.ndarray
    values: np.ndarray
    columns: tuple[str, ...]

    @classmethod
    def of(cls, frame: pd.DataFrame) -> PointInTime:
        if "available_at" not in frame.columns:
            raise ValueError("point-in-time frame needs an 'available_at' column")
        columns = tuple(str(c) for c in frame.columns if c not in ("available_at", "ts"))
        available = pd.to_datetime(frame["available_at"]).to_numpy().astype("datetime64[ns]")
        order = np.argsort(available, kind="stable")
        values = frame[list(columns)].to_numpy(dtype=np.float64)[order]
        return cls(available[order], values, columns)

    def as_of(self, times: pd.DatetimeIndex, as_of: pd.Timestamp) -> pd.DataFrame:
        """Value columns as known at each time: the latest row with available_at <= t
        (and <= as_of); NaN before the first. (T, C)."""
        known = np.searchsorted(self.available, np.datetime64(pd.Timestamp(as_of), "ns"), side="right")
        grid = np.asarray(times.values, dtype="datetime64[ns]")
        row = np.searchsorted(self.available[:known], grid, side="right") - 1
        out = np.where((row >= 0)[:, None], self.values[np.maximum(row, 0)], np.nan)
        return pd.DataFrame(out, index=times, columns=list(self.columns))


def prepare_point_in_time(macro: dict[str, pd.DataFrame] | None) -> dict[str, PointInTime] | None:
    """`build_features`' macro argument, parsed and sorted once: the same features, without
    the per-call as-of join set-up (for callers that build features bar after bar)."""
    return None if macro is None else {name: PointInTime.of(frame) for name, frame in macro.items()}


def _macro_features(
    macro: dict[str, pd.DataFrame | PointInTime], times: pd.DatetimeIndex, as_of: pd.Timestamp
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name in sorted(macro):
        frame = macro[name]
        table = frame if isinstance(frame, PointInTime) else PointInTime.of(frame)
        values = table.as_of(times, as_of).to_numpy()  # (T, C)
        # A series positive wherever known changes in logs, any other in levels.
        positive = np.where(np.isnan(values), True, values > 0).all(axis=0)
        base = values.copy()
        base[:, positive] = np.log(values[:, positive])
        change = _diff(base, MACRO_CHANGE)
        for c, col in enumerate(table.columns):
            out[f"{name}_{col}"] = values[:, c]
            out[f"{name}_{col}_chg{MACRO_CHANGE}"] = change[:, c]
    return out


def _sentiment_features(
    sentiment: pd.DataFrame,
    times: pd.DatetimeIndex,
    symbols: list[str],
    as_of: pd.Timestamp,
    half_life_days: float,
) -> dict[str, pd.DataFrame]:
    """sentiment: rows (symbol, score, available_at[, label, model]), one model only. Each
    item counts from the first trading time at or after it became available. Over 5
    trading days: mean score, log count, shares labelled positive / negative (without a
    label column: score >= +0.05 / <= -0.05); and the score decayed with
    ``half_life_days`` (calendar days) over all items known at each time, 0 before any."""
    _check_sentiment_frame(sentiment)
    # Aware times compare in UTC against the (naive, UTC) trading grid.
    avail = pd.to_datetime(sentiment["available_at"], utc=True).dt.tz_localize(None).astype("datetime64[ns]")
    keep = (avail <= as_of) & sentiment["symbol"].isin(symbols)
    items, avail = sentiment[keep], avail[keep]
    grid_times = times.astype("datetime64[ns]")
    pos = grid_times.searchsorted(avail, side="left")
    inside = pos < len(times)
    items, avail, pos = items[inside], avail[inside], pos[inside]
    labels = items["label"] if "label" in items else label_from_score(items["score"])
    age = (grid_times[pos].to_numpy() - avail.to_numpy()) / np.timedelta64(1, "D")
    weight = 0.5 ** (age / half_life_days)
    items = items.assign(
        t=pos,
        positive=(labels == "positive").astype(float).to_numpy(),
        negative=(labels == "negative").astype(float).to_numpy(),
        w=weight,
        ws=weight * items["score"].to_numpy(),
    )
    grid = pd.MultiIndex.from_product([range(len(times)), symbols])
    grouped = (
        items.groupby(["t", "symbol"])[["score", "positive", "negative", "w", "ws"]]
        .sum()
        .assign(count=items.groupby(["t", "symbol"]).size())
        .reindex(grid, fill_value=0)
    )

    def window(column: str) -> pd.DataFrame:
        return grouped[column].unstack()[symbols].rolling(SENTIMENT_WINDOW, min_periods=1).sum()

    count = window("count")
    seen = count.where(count > 0)
    decay = 0.5 ** (np.diff(grid_times.to_numpy()) / np.timedelta64(1, "D") / half_life_days)
    w_sum = _decay_sum(grouped["w"].unstack()[symbols].to_numpy(), decay)
    ws_sum = _decay_sum(grouped["ws"].unstack()[symbols].to_numpy(), decay)
    decayed = np.divide(ws_sum, w_sum, out=np.zeros_like(ws_sum), where=w_sum > 0)
    return {
        "sent_mean_5": (window("score") / seen).fillna(0.0).set_axis(times),
        "sent_count_5": np.log1p(count).set_axis(times),
        "sent_pos_share_5": (window("positive") / seen).fillna(0.0).set_axis(times),
        "sent_neg_share_5": (window("negative") / seen).fillna(0.0).set_axis(times),
        "sent_decayed": pd.DataFrame(decayed, index=times, columns=symbols),
    }


def _check_sentiment_frame(sentiment: pd.DataFrame) -> None:
    """Raise ValueError unless the frame has the needed columns and one model's scores."""
    missing = {"symbol", "score", "available_at"} - set(sentiment.columns)
    if missing:
        raise ValueError(f"sentiment frame lacks columns {sorted(missing)}")
    if "model" in sentiment.columns and sentiment["model"].nunique() > 1:
        raise ValueError(
            f"sentiment frame mixes models {sorted(sentiment['model'].unique())}: pass one model's scores"
        )


def _decay_sum(added: np.ndarray, decay: np.ndarray) -> np.ndarray:
    """(T, N) running sums where the total decays by ``decay[t-1]`` between rows t-1 and t."""
    out = np.empty_like(added, dtype=np.float64)
    total = np.zeros(added.shape[1])
    for t in range(len(added)):
        total = (total * decay[t - 1] if t else total) + added[t]
        out[t] = total
    return out


def build_features(
    prices: pd.DataFrame,
    as_of: pd.Timestamp | str,
    *,
    volume: pd.DataFrame | None = None,
    macro: dict[str, pd.DataFrame] | dict[str, PointInTime] | None = None,
    sentiment: pd.DataFrame | None = None,
    sentiment_half_life_days: float = 3.0,
) -> FeaturePanel:
    """Features for every trading day <= as_of.

    prices: (T, N) closes; volume: (T, N) or None; macro: {name: ts-indexed frame with value
    columns and `available_at`}, or the same through `prepare_point_in_time`; sentiment: long frame (symbol, score, available_at[, label,
    model]) of one model, or None (`sentiment_half_life_days`: for `sent_decayed`).
    Rows after `as_of` are ignored, so the same call is valid live and in replay.
    """
    as_of = pd.Timestamp(as_of)
    prices = prices.loc[:as_of]
    if prices.empty:
        raise ValueError(f"no prices at or before as_of={as_of}")
    times = pd.DatetimeIndex(prices.index)
    symbols = [str(s) for s in prices.columns]
    volume = volume.loc[:as_of] if volume is not None else None

    per_symbol = _price_features(prices, volume)
    if sentiment is not None:
        per_symbol |= _sentiment_features(sentiment, times, symbols, as_of, sentiment_half_life_days)
    shared = _macro_features(macro or {}, times, as_of) | _calendar(times)

    names = tuple(per_symbol) + tuple(shared)
    values = np.empty((len(times), len(symbols), len(names)), dtype=np.float32)
    for f, frame in enumerate(per_symbol.values()):
        values[:, :, f] = np.asarray(frame, dtype=np.float64)
    for f, column in enumerate(shared.values(), start=len(per_symbol)):
        values[:, :, f] = np.asarray(column, dtype=np.float64)[:, None]
    values[~np.isfinite(values)] = np.nan
    return FeaturePanel(times, tuple(symbols), names, values, as_of)


# Rows before a feature row that decide it: the 100-day moving average, the 60-day
# returns, the vol of daily returns, the 60-day volume mean and the macro change.
LONGEST_LOOKBACK = max(100, max(RETURN_WINDOWS), max(VOL_WINDOWS) + 1, 60, MACRO_CHANGE)


def serving_window(prices: pd.DataFrame, encoder_length: int) -> pd.DataFrame:
    """The last rows of `prices` (T, N) that the last `encoder_length` rows of every feature
    depend on: what a forecast needs, instead of the whole history (the serving path
    builds features once per bar). The features of those rows come out bit for bit the
    same (each rolling window is reduced on its own, not as a running sum), with one caveat
    in a definition: a macro change is a log change only when the series is positive over
    the rows given (every bundled series is)."""
    return prices.iloc[-(encoder_length + LONGEST_LOOKBACK) :]


def target_names(horizons: tuple[int, ...], vol_horizon: int | None) -> tuple[str, ...]:
    return tuple(f"ret_{h}" for h in horizons) + ((f"rv_{vol_horizon}",) if vol_horizon else ())


def build_targets(
    prices: pd.DataFrame, horizons: tuple[int, ...], vol_horizon: int | None
) -> np.ndarray:
    """Labels (T, N, K): forward log returns log(p[t+h]/p[t]) per horizon, then optionally
    forward realised volatility sqrt(mean(r[t+1..t+H]^2)) in daily units. NaN where the
    future is not in `prices` — labels are for training only and must be purged."""
    logp = np.log(prices)
    out = [(logp.shift(-h) - logp).to_numpy() for h in horizons]
    if vol_horizon:
        sq = logp.diff().pow(2)
        out.append(np.sqrt(sq.rolling(vol_horizon).mean().shift(-vol_horizon)).to_numpy())
    return np.stack(out, axis=-1).astype(np.float32)


def known_future(
    times: pd.DatetimeIndex, horizons: tuple[int, ...], vol_horizon: int | None
) -> np.ndarray:
    """Known-future inputs (T, K, F_future), one slot per target: horizon length, whether the
    slot is the volatility target, and the calendar of the target date (t + h business
    days) — all known at decision time."""
    slots = [(h, 0.0) for h in horizons] + ([(vol_horizon, 1.0)] if vol_horizon else [])
    days = times.values.astype("datetime64[D]")
    out = np.empty((len(times), len(slots), len(FUTURE_NAMES)), dtype=np.float32)
    for k, (h, is_vol) in enumerate(slots):
        cal = _calendar(pd.DatetimeIndex(np.busday_offset(days, h, roll="forward")))
        out[:, k, 0] = np.log1p(h)
        out[:, k, 1] = is_vol
        for j, name in enumerate(FUTURE_NAMES[2:], start=2):
            out[:, k, j] = cal[name]
    return out
