"""Forecast metrics and the baselines the models must beat. Pure array functions.

Shapes: S = samples (t, i) pairs, K = targets, Q = quantile levels, T x N panels.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = [
    "garch_vol_forecast",
    "information_coefficient",
    "quantile_metrics",
    "quantile_offsets",
    "trailing_mean_forecast",
    "trailing_vol_forecast",
]


def information_coefficient(
    pred: np.ndarray, actual: np.ndarray, dates: np.ndarray, rank: bool = False
) -> float:
    """Mean over dates of the cross-sectional (rank) correlation of pred vs actual.

    pred, actual, dates: (S,). Dates with fewer than 3 symbols or a constant side are
    skipped; NaN if none is left (e.g. a forecast that is the same for every symbol).
    """
    frame = pd.DataFrame({"p": pred, "a": actual, "d": dates}).dropna()
    if rank:
        frame[["p", "a"]] = frame.groupby("d")[["p", "a"]].rank()
    ics = []
    for _, g in frame.groupby("d"):
        if len(g) >= 3 and g["p"].std() > 0 and g["a"].std() > 0:
            ics.append(np.corrcoef(g["p"], g["a"])[0, 1])
    return float(np.mean(ics)) if ics else float("nan")


def quantile_metrics(
    pred: np.ndarray, actual: np.ndarray, quantiles: tuple[float, ...], dates: np.ndarray
) -> dict[str, float]:
    """One target. pred (S, Q) quantiles, actual (S,), dates (S,).

    Returns pinball loss per level (`pinball_q10` ...), their mean, the share of actuals
    inside [lowest, highest] quantile (`coverage`, nominal q_hi - q_lo), and IC / rank IC
    of the quantile nearest 0.5 across symbols.
    """
    err = actual[:, None] - pred
    q = np.asarray(quantiles)
    loss = np.maximum(q * err, (q - 1) * err).mean(axis=0)
    out = {
        f"pinball_q{round(level * 100):02d}": float(v)
        for level, v in zip(quantiles, loss, strict=True)
    }
    out["pinball_mean"] = float(loss.mean())
    out["coverage"] = float(np.mean((actual >= pred[:, 0]) & (actual <= pred[:, -1])))
    mid = pred[:, int(np.argmin(np.abs(q - 0.5)))]
    out["ic"] = information_coefficient(mid, actual, dates)
    out["rank_ic"] = information_coefficient(mid, actual, dates, rank=True)
    return out


def quantile_offsets(train_labels: np.ndarray, quantiles: tuple[float, ...]) -> np.ndarray:
    """Per-symbol, per-target spread of the training labels around their median:
    (T, N, K) -> (N, K, Q). Baselines add these to their point forecast, so they get
    calibrated-ish intervals. The median is taken in the same call as the other levels so
    that the 0.5 offset is exactly zero (a ~1e-18 residue would give a constant forecast a
    spurious IC)."""
    levels = np.nanquantile(train_labels, [*quantiles, 0.5], axis=0)  # (Q + 1, N, K)
    return np.nan_to_num(np.moveaxis(levels[:-1] - levels[-1], 0, -1))


def trailing_mean_forecast(daily: np.ndarray, horizon: int, window: int = 252) -> np.ndarray:
    """Trailing historical mean h-day log return known at t: (T, N) daily log returns ->
    (T, N) = horizon * mean(daily[t-window+1 .. t])."""
    return pd.DataFrame(daily).rolling(window, min_periods=window // 2).mean().to_numpy() * horizon


def trailing_vol_forecast(daily: np.ndarray, horizon: int) -> np.ndarray:
    """Random-walk volatility: sqrt(mean(daily^2)) over the last `horizon` days, (T, N)."""
    return np.sqrt(pd.DataFrame(daily).pow(2).rolling(horizon).mean().to_numpy())


def garch_vol_forecast(
    daily: np.ndarray, train_end: int, horizon: int, first: int, last: int
) -> np.ndarray:
    """GARCH(1,1) forecast of sqrt(mean daily variance over the next `horizon` days).

    daily: (T,) log returns of one symbol. Parameters are fitted on rows < train_end only;
    the forecast for row t in [first, last) filters returns up to and including t.
    Returns (last - first,), NaN where the fit failed.
    """
    from arch import arch_model

    out = np.full(last - first, np.nan)
    series = pd.Series(daily[:last] * 100.0)
    start = int(series.first_valid_index() or 0)
    series = series.iloc[start:].fillna(0.0)
    if train_end - start < 250:
        return out
    model = arch_model(series, mean="Zero", vol="GARCH", p=1, q=1, rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; a failed fit gives NaN below
        try:
            res = model.fit(last_obs=train_end - start, disp="off")
            fc = res.forecast(horizon=horizon, start=first - start, reindex=False)
        except (ValueError, np.linalg.LinAlgError):
            return out
    var = fc.variance.to_numpy()  # rows: origins first..last-1
    out[: len(var)] = np.sqrt(var.mean(axis=1)) / 100.0
    return out
