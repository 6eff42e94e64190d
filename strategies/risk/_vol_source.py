"""The per-asset vol the risk model uses: GARCH's, the forecasting model's, or a blend.

``risk.vol_source`` picks it. The model's input is the median (P50) of its ``rv_<h>``
forecast: the realised volatility over the next h trading days, sqrt(mean(r^2)) of daily
log returns, which is already a one-day vol (no sqrt(h) rescaling; annualised it is
x sqrt(periods_per_year) like GARCH's). ``blend`` mixes variances,
``vol^2 = w * model^2 + (1 - w) * garch^2`` with ``w = risk.vol_blend``, so the blend lies
between the two. A symbol without a usable model forecast (none, NaN, <= 0, or implausibly
far from its sample vol) keeps GARCH's vol, and the reason is recorded in ``fallback``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from strategies.risk._volatility import VolatilityForecast

__all__ = ["NO_MODEL_FORECAST", "combine_vol"]

NO_MODEL_FORECAST = "no_model_vol (no finite forecast at decision time: garch used)"


def combine_vol(
    garch: VolatilityForecast,
    model_vol: pd.Series | None,
    sample_vol: pd.Series | None,
    *,
    source: str,
    blend: float = 0.5,
    max_ratio: float = 10.0,
) -> VolatilityForecast:
    """The vols `source` asks for, per symbol of `garch.vol` (all decimal one-day vols).

    model_vol: the model's P50 daily vol by symbol (None: no forecast yet). sample_vol: the
    symbols' sample daily vol, the plausibility yardstick: a model vol outside
    [sample / max_ratio, sample * max_ratio] is not used (None only with ``source =
    "garch"``, which returns `garch` itself and reads no yardstick). Elsewhere `source` says "model" / "blend" where the model's vol was
    used, GARCH's own label where it fell back, and `fallback` adds the reason.
    """
    if source == "garch":
        return garch
    if source not in ("model", "blend"):
        raise ValueError(f"risk.vol_source: unknown source {source!r}")
    if sample_vol is None:
        raise ValueError(f"risk.vol_source {source!r} needs the sample vols to check the model's against")
    symbols = garch.vol.index
    g = garch.vol.to_numpy(dtype=float)
    m = (model_vol if model_vol is not None else pd.Series(dtype=float)).reindex(symbols)
    m = pd.to_numeric(m, errors="coerce").to_numpy(dtype=float)
    sample = sample_vol.reindex(symbols).to_numpy(dtype=float)
    reasons = _unusable(m, sample, max_ratio, model_vol is None)
    usable = np.array([r is None for r in reasons])
    if source == "model":
        vol = np.where(usable, m, g)
    else:
        with np.errstate(invalid="ignore"):
            vol = np.where(usable, np.sqrt(blend * m**2 + (1.0 - blend) * g**2), g)
    labels = np.where(usable, source, garch.source.reindex(symbols).to_numpy(dtype=object))
    fallback = dict(garch.fallback)
    for symbol, reason in zip(symbols, reasons, strict=True):
        if reason is not None:
            fallback[symbol] = f"{fallback[symbol]}; {reason}" if symbol in fallback else reason
    return VolatilityForecast(
        vol=pd.Series(vol, index=symbols, dtype=float),
        source=pd.Series(labels, index=symbols, dtype=object),
        fallback=fallback,
    )


def _unusable(m: np.ndarray, sample: np.ndarray, max_ratio: float, absent: bool) -> list[str | None]:
    """Per symbol: why the model's vol cannot be used, or None."""
    out: list[str | None] = []
    for value, yardstick in zip(m, sample, strict=True):
        if absent or not np.isfinite(value):
            out.append(NO_MODEL_FORECAST)
        elif value <= 0:
            out.append("model_vol_nonpositive (garch used)")
        elif np.isfinite(yardstick) and yardstick > 0 and not 1 / max_ratio <= value / yardstick <= max_ratio:
            out.append(f"model_vol_implausible (forecast/sample vol {value / yardstick:.3g}: garch used)")
        else:
            out.append(None)
    return out
