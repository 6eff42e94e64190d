"""Per-asset one-day volatility forecasts with refit cadence, warm starts and fallbacks.

`GarchVolatility` is the one stateful risk component: it remembers each symbol's last GARCH
parameters so later calls can filter new data with them (between refits) or start the
optimiser from them (warm start). The state is built only from data passed in earlier calls.

A due refit runs inside `forecast` (``refit_at = "decision"``: the decision waits for up to
one fit per symbol) or in `refit`, after the decision (``"after_decision"``: `forecast`
filters every symbol that has parameters, so a decision costs one filter per symbol, and
the parameters a decision uses were fitted on the previous decision's data).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from strategies.risk._ewma import ewma_variance
from strategies.risk._garch import GarchFit, GarchSpec, filter_garch, fit_many
from strategies.risk.config import GarchConfig

__all__ = ["GarchVolatility", "VolatilityForecast"]

FitMany = Callable[[Sequence[tuple[np.ndarray, GarchSpec, np.ndarray | None]]], list]
# Fewer fits than this per worker and process start-up/transfer costs more than it saves.
_MIN_FITS_PER_WORKER = 2


def exit_with_parent() -> None:
    """Pool initializer: the worker ends as soon as the process that started it dies, even
    by ``kill -9``; an orphaned worker would otherwise wait forever on its task queue
    (holding the daemon's stdout open)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@dataclass(frozen=True, slots=True)
class VolatilityForecast:
    """One-day vol forecasts for N symbols.

    vol: (N,) decimal daily vol; source: (N,) "garch_fit" | "garch_filter" | "ewma";
    fallback: symbol -> why the GARCH estimate was replaced by EWMA.
    """

    vol: pd.Series
    source: pd.Series
    fallback: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _SymbolState:
    params: np.ndarray
    calls_since_fit: int


class GarchVolatility:
    """Forecasts one-day vol per symbol from arch GARCH fits (EWMA when unusable).

    Parameters come from `GarchConfig`; `fit_many` (a picklable batch fitter) is injectable
    so tests can make fits fail on purpose.
    """

    def __init__(self, config: GarchConfig | None = None, fit_many: FitMany = fit_many):
        self.config = config or GarchConfig()
        self.fit_many = fit_many
        self.spec = GarchSpec(self.config.flavour, self.config.distribution)
        self.state_: dict[str, _SymbolState] = {}
        # after_decision: the percent returns the last forecast used, by symbol (for `refit`).
        self._pending: dict[str, np.ndarray] = {}
        self._pool: ProcessPoolExecutor | None = None

    def reset(self) -> None:
        """Forget all fitted parameters (the next call refits every symbol)."""
        self.state_.clear()
        self._pending = {}

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _filtered(self, y: np.ndarray, state: _SymbolState) -> float | None:
        """One-step variance of `y` (percent) under the symbol's last parameters; None when
        the filter fails or its forecast is implausible (then a refit decides)."""
        try:
            var = filter_garch(y, self.spec, state.params)
        except Exception:  # noqa: BLE001 - whatever broke the filter, a refit decides
            return None
        if self._implausible(var, y) is not None:
            return None
        state.calls_since_fit += 1
        return var

    def forecast(self, returns: pd.DataFrame) -> VolatilityForecast:
        """Vol forecasts for every column of `returns` (T x N decimal, NaN = missing).

        Each symbol uses its last `window` finite returns. Fewer than `min_obs`, a fit that
        fails or does not converge, or a forecast implausibly far from the sample vol
        (factor `max_vol_ratio`) gives EWMA instead, recorded in `fallback`. A symbol with no
        usable estimate at all gets NaN.
        """
        cfg = self.config
        after = cfg.refit_at == "after_decision"
        symbols = list(returns.columns)
        # A symbol absent from this call loses its parameters: they would be stale by an
        # unknown amount of time when it comes back.
        self.state_ = {s: st for s, st in self.state_.items() if s in symbols}
        values = returns.to_numpy(dtype=float)[-cfg.window :]
        variance = np.full(len(symbols), np.nan)
        source = np.array(["ewma"] * len(symbols), dtype=object)
        fallback: dict[str, str] = {}
        series: dict[int, np.ndarray] = {}
        to_fit: list[int] = []
        for i, symbol in enumerate(symbols):
            y = series[i] = _percent(values[:, i])
            state = self.state_.get(symbol)
            if y.shape[0] < cfg.min_obs:
                self.state_.pop(symbol, None)
                fallback[symbol] = f"too_short_for_garch ({y.shape[0]} < {cfg.min_obs} obs)"
            elif state is not None and (after or state.calls_since_fit + 1 < cfg.refit_every):
                var = self._filtered(y, state)
                if var is None:
                    to_fit.append(i)  # stale parameters: refit now rather than fall back
                else:
                    variance[i], source[i] = var, "garch_filter"
            else:
                to_fit.append(i)

        fits = self._fit([series[i] for i in to_fit], [symbols[i] for i in to_fit])
        for i, result in zip(to_fit, fits, strict=True):
            symbol = symbols[i]
            reason = self._check_fit(result, series[i])
            if reason is None:
                variance[i], source[i] = result.variance, "garch_fit"
                self.state_[symbol] = _SymbolState(result.params, 0)
            else:
                self.state_.pop(symbol, None)
                fallback[symbol] = reason
        if after:
            self._pending = {symbols[i]: y for i, y in series.items() if symbols[i] in self.state_}

        ewma = np.isnan(variance)
        if ewma.any():
            variance[ewma] = ewma_variance(100.0 * values[:, ewma], cfg.ewma_lambda)
        for i in np.flatnonzero(~(variance > 0) | ~np.isfinite(variance)):
            variance[i] = np.nan  # no usable estimate at all: the caller must not invest
            fallback[symbols[i]] = "no_usable_vol (no recent variation)"
        vol = np.sqrt(variance) / 100.0
        return VolatilityForecast(
            vol=pd.Series(vol, index=symbols, dtype=float),
            source=pd.Series(source, index=symbols, dtype=object),
            fallback=fallback,
        )

    def refit(self) -> tuple[int, dict[str, str]]:
        """After a decision (``refit_at = "after_decision"``): refit each symbol whose
        parameters have served ``refit_every`` decisions, on the returns that decision's
        `forecast` used (nothing later); the next decision filters with the new parameters.

        Returns how many were refit and, per symbol, why a refit was unusable: that symbol
        loses its parameters, and the next decision fits it (as a failed fit in `forecast`).
        """
        pending, self._pending = self._pending, {}
        every = self.config.refit_every
        due = [s for s, st in self.state_.items() if s in pending and st.calls_since_fit >= every]
        failed: dict[str, str] = {}
        results = self._fit([pending[s] for s in due], due)
        for symbol, result in zip(due, results, strict=True):
            reason = self._check_fit(result, pending[symbol])
            if reason is None:
                self.state_[symbol] = _SymbolState(result.params, 0)
            else:
                self.state_.pop(symbol)
                failed[symbol] = reason
        return len(due) - len(failed), failed

    def _fit(self, ys: list[np.ndarray], symbols: list[str]) -> list:
        """Fits of `ys` (one series per symbol of `symbols`), warm-started when configured."""
        starts = [
            self.state_[s].params if self.config.warm_start and s in self.state_ else None
            for s in symbols
        ]
        tasks = [(y, self.spec, start) for y, start in zip(ys, starts, strict=True)]
        n_jobs = min(self.config.n_jobs, len(tasks) // _MIN_FITS_PER_WORKER)
        if n_jobs <= 1:
            return self.fit_many(tasks)
        if self._pool is None:
            # spawn: the daemon runs threads, and forking a threaded process is unsafe.
            self._pool = ProcessPoolExecutor(
                self.config.n_jobs, mp_context=multiprocessing.get_context("spawn"), initializer=exit_with_parent
            )
        chunks = [tasks[k::n_jobs] for k in range(n_jobs)]
        try:
            parts = list(self._pool.map(self.fit_many, chunks))
        except Exception:  # noqa: BLE001 - a dead worker must not cost the rebalance
            self.close()
            return self.fit_many(tasks)
        out: list = [None] * len(tasks)
        for k, part in enumerate(parts):
            out[k::n_jobs] = part
        return out

    def _check_fit(self, result: GarchFit | str, y: np.ndarray) -> str | None:
        if isinstance(result, str):
            return f"garch_failed ({result})"
        if not result.converged:
            return "garch_not_converged"
        return self._implausible(result.variance, y)

    def _implausible(self, variance: float, y: np.ndarray) -> str | None:
        if not np.isfinite(variance) or variance <= 0:
            return "garch_nonpositive_forecast"
        ratio = np.sqrt(variance) / max(float(np.std(y)), 1e-12)
        bound = self.config.max_vol_ratio
        if not 1.0 / bound <= ratio <= bound:
            return f"garch_implausible (forecast/sample vol {ratio:.3g})"
        return None


def _percent(returns: np.ndarray) -> np.ndarray:
    """The finite values of one symbol's decimal returns, in percent (arch's scale)."""
    return 100.0 * returns[np.isfinite(returns)]
