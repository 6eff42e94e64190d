"""Input hygiene: which assets are investable on a window, and the clean window itself."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["ScreenedReturns", "clean_returns", "screen_returns"]


@dataclass(frozen=True, slots=True)
class ScreenedReturns:
    """The allocation window and why assets were left out.

    window: (T, K) complete rows (no NaN) of the K kept assets, the last `lookback` rows.
    excluded: symbol -> reason, for every input column not kept.
    """

    window: pd.DataFrame
    excluded: dict[str, str]

    @property
    def symbols(self) -> list[str]:
        return list(self.window.columns)


def clean_returns(returns: pd.DataFrame) -> pd.DataFrame:
    """Simple returns with impossible values (inf, <= -100%) turned into missing (NaN)."""
    values = returns.to_numpy(dtype=float, copy=True)
    values[~np.isfinite(values) | (values <= -1.0)] = np.nan
    return pd.DataFrame(values, index=returns.index, columns=returns.columns)


def screen_returns(
    returns: pd.DataFrame, *, lookback: int, min_history: int, min_daily_vol: float
) -> ScreenedReturns:
    """Keep assets with enough history and variation; drop rows with any gap among them.

    returns: (T, N) cleaned simple returns (see `clean_returns`). An asset needs
    `min_history` finite returns in the last `lookback` rows. Rows where a kept asset is
    missing are dropped (covariances then come from one common sample and stay PSD); while
    that leaves fewer than `min_history` rows, the asset with the fewest observations goes.
    Finally assets whose daily vol on the common rows is below `min_daily_vol` (constant
    prices) are excluded: they would give inverse-variance weights of infinity.
    """
    window = returns.iloc[-lookback:]
    present = ~np.isnan(window.to_numpy(dtype=float))  # (T, N)
    counts = present.sum(axis=0)
    columns = list(window.columns)
    excluded = {
        str(s): f"too_short_history ({int(n)} < {min_history} returns)"
        for s, n in zip(columns, counts, strict=True)
        if n < min_history
    }
    kept = [i for i, s in enumerate(columns) if str(s) not in excluded]  # positions
    rows = np.empty(0, dtype=int)  # the rows where every kept asset has a return
    while kept:
        rows = np.flatnonzero(present[:, kept].all(axis=1))
        if len(rows) >= min_history:
            break
        # Ties: the later column goes first, so the order of the input decides, not chance.
        worst = min(reversed(kept), key=lambda i: counts[i])
        excluded[str(columns[worst])] = f"gaps_shrink_common_window ({len(rows)} complete rows)"
        kept.remove(worst)
    if not kept:
        rows = np.empty(0, dtype=int)
    with np.errstate(invalid="ignore", divide="ignore"):
        std = np.std(window.to_numpy(dtype=float)[np.ix_(rows, kept)], axis=0, ddof=1) if kept else np.empty(0)
    flat = [i for i, sd in zip(kept, std, strict=True) if not sd > min_daily_vol]
    for i in flat:
        excluded[str(columns[i])] = "constant_price (no return variation)"
    kept = [i for i in kept if i not in flat]
    return ScreenedReturns(window=window.iloc[rows, kept], excluded=excluded)
