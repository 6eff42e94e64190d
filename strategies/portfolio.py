"""Portfolio construction at a rebalance: screen, allocate, tilt, cap, forecast risk, scale,
filter trades. `PortfolioConstructor.construct` is the one call the strategy makes.

Numeric work lives in `strategies.allocation` and `strategies.risk`; this module wires the
stages, decides fallbacks, and logs what it replaced or left out.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd
import structlog

from core.events import Bound
from strategies.allocation import (
    HRPAllocator,
    MeanVarianceAllocator,
    ScreenedReturns,
    clean_returns,
    forecast_tilt,
    screen_returns,
)
from strategies.decision import Book, Decision, Diagnostics, Note, last_by_symbol
from strategies.portfolio_config import PortfolioConfig
from strategies.risk import (
    NO_MODEL_FORECAST,
    GarchVolatility,
    Limits,
    RiskModel,
    VolatilityForecast,
    apply_trade_filters,
    build_risk_model,
    cap_weights,
    clamp_to_caps,
    combine_vol,
    scale_to_limits,
    violations,
)
from strategies.view import LookAheadError

__all__ = ["Decision", "LookAheadError", "Note", "PortfolioConstructor"]  # re-exported


class PortfolioConstructor:
    """Builds a `Decision` from returns, current weights and optional forecasts.

    Keeps GARCH parameters between calls (refit cadence, warm starts); that state comes only
    from earlier calls, and is dropped when `as_of` moves backwards. Call `close()` (or use
    it as a context manager) to stop GARCH worker processes when ``n_jobs > 1``.
    """

    def __init__(
        self, config: PortfolioConfig | None = None, *, volatility: GarchVolatility | None = None
    ):
        self.config = config or PortfolioConfig()
        self.volatility = volatility or GarchVolatility(self.config.risk.garch)
        risk = self.config.risk
        self.limits = Limits(
            risk.target_vol, risk.max_gross, risk.max_weight, risk.max_var, risk.max_cvar
        )
        self._last_as_of: pd.Timestamp | None = None
        self._log = structlog.get_logger(component="portfolio")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.volatility.close()

    def refit(self) -> str | None:
        """The GARCH refits due after the last decision (``risk.garch.refit_at =
        "after_decision"``), on the returns it used; a one-line outcome, None if none ran."""
        refit, failed = self.volatility.refit()
        for symbol, why in failed.items():
            self._log.warning("estimate_dropped", symbol=symbol, detail=f"refit unusable, next decision fits: {why}")
        if not refit and not failed:
            return None
        return f"refit {refit} GARCH model(s)" + (f", {len(failed)} unusable" if failed else "")

    def construct(
        self,
        returns: pd.DataFrame,
        current_weights: pd.Series,
        forecasts: pd.DataFrame | None,
        as_of: pd.Timestamp,
        vol_forecasts: pd.DataFrame | None = None,
    ) -> Decision:
        """Target weights as of `as_of`.

        returns: (T, N) simple daily returns up to and including the decision day, NaN where
        missing. current_weights: held weights by symbol. forecasts: per-symbol rows with
        q10/q50/q90 of forward return as of `as_of`, or None. vol_forecasts: per-symbol rows
        with q10/q50/q90 of the model's realised daily vol, made by `as_of` (read when
        ``risk.vol_source`` is "model" or "blend"; the q50 column is used), or None.
        Raises `LookAheadError` when `returns` has rows after `as_of`.
        """
        as_of = pd.Timestamp(as_of)
        notes: list[Note] = []
        self._check_inputs(returns, as_of, notes)
        cleaned, screened = self._screen(returns, notes)
        book = Book.of(returns.columns, current_weights, screened.symbols)
        diag = Diagnostics(book, screened.excluded)
        if not book.kept:
            notes.append(Note("no_investable_assets", None, "every asset was excluded"))
            return self._finish(as_of, book, np.zeros(len(book.universe)), None, 1.0, "none", diag, notes)

        alloc, risk = self.config.allocation, self.config.risk
        base = self._allocate(screened, book.held, notes)
        tilt = forecast_tilt(
            base,
            forecasts if alloc.method == "hrp" else None,
            strength=alloc.tilt.strength,
            cap=alloc.tilt.cap,
        )
        if forecasts is not None:
            notes += [Note("tilt_neutral", s, why) for s, why in tilt.neutral.items()]
        capped = cap_weights(tilt.weights.to_numpy(), risk.max_weight)
        model_vol = None if vol_forecasts is None else _median(vol_forecasts)
        model, vols = self._risk_model(cleaned[book.kept], screened, book, capped, diag, notes, model_vol)
        scaled = scale_to_limits(capped, model, self.limits)
        annual = np.sqrt(risk.periods_per_year)
        diag.set_kept("base_weight", base.reindex(book.kept))
        diag.set_kept("tilt", tilt.multipliers.reindex(book.kept))
        diag.set_kept("risk_vol", vols.vol.to_numpy() * annual)
        if model_vol is not None:
            diag.columns["model_vol"][:] = model_vol.reindex(book.universe).to_numpy(dtype=float) * annual
        diag.set_kept("vol_source", vols.source.to_numpy())
        diag.set_texts("fallback", vols.fallback)
        target = np.zeros(len(book.universe))
        target[book.kept_mask] = scaled.weights
        return self._finish(as_of, book, target, model, scaled.scale, scaled.bound, diag, notes)

    def _screen(
        self, returns: pd.DataFrame, notes: list[Note]
    ) -> tuple[pd.DataFrame, ScreenedReturns]:
        """Cleaned recent returns (T', N) and the assets with enough usable history."""
        cfg, alloc = self.config, self.config.allocation
        # Nothing reads further back than the longest window; slicing first keeps a
        # 30-year history from costing 30 years of pandas work at every rebalance.
        recent = returns.iloc[-max(alloc.lookback, cfg.risk.garch.window, cfg.risk.var.lookback) :]
        cleaned = clean_returns(recent)
        replaced = int((~np.isnan(recent.to_numpy(dtype=float)) & np.isnan(cleaned.to_numpy())).sum())
        if replaced:
            notes.append(Note("bad_returns_replaced", None, f"{replaced} inf or <= -100% values"))
        screened = screen_returns(
            cleaned,
            lookback=alloc.lookback,
            min_history=alloc.min_history,
            min_daily_vol=alloc.min_daily_vol,
        )
        notes += [Note("asset_excluded", s, why) for s, why in screened.excluded.items()]
        return cleaned, screened

    def _risk_model(
        self,
        kept: pd.DataFrame,
        screened: ScreenedReturns,
        book: Book,
        capped: np.ndarray,
        diag: Diagnostics,
        notes: list[Note],
        model_vol: pd.Series | None,
    ) -> tuple[RiskModel, VolatilityForecast]:
        """Vols of the kept assets (``risk.vol_source``; `kept`: their cleaned returns) and
        the risk model on them. An asset without a usable vol gets weight 0 in `capped` (in
        place): its risk is unknown. ``garch_vol`` gets GARCH's (annualised) whatever the
        source."""
        risk = self.config.risk
        garch = self.volatility.forecast(kept)
        diag.set_kept("garch_vol", garch.vol.to_numpy() * np.sqrt(risk.periods_per_year))
        notes += [
            Note("estimate_replaced", s, f"ewma vol instead of garch: {why}")
            for s, why in garch.fallback.items()
            if np.isfinite(garch.vol[s])
        ]
        # The model's yardstick: the sample vol (GARCH's own source needs none).
        sample = kept.iloc[-risk.garch.window :].std(ddof=1) if risk.vol_source != "garch" else None
        vols = combine_vol(
            garch, model_vol, sample, source=risk.vol_source, blend=risk.vol_blend,
            max_ratio=risk.garch.max_vol_ratio,
        )
        if risk.vol_source != "garch" and model_vol is None:
            notes.append(Note("vol_source_fallback", None, NO_MODEL_FORECAST))
        elif risk.vol_source != "garch":
            # The vol-source reason is the last one of a symbol's fallback entry.
            notes += [
                Note("vol_source_fallback", s, why.split("; ")[-1])
                for s, why in vols.fallback.items()
                if vols.source[s] not in ("model", "blend")
            ]
        daily_vol = vols.vol.to_numpy()
        unusable = ~np.isfinite(daily_vol)
        if unusable.any():
            capped[unusable], daily_vol = 0.0, np.where(unusable, 0.0, daily_vol)
            lost = list(np.asarray(book.kept, dtype=object)[unusable])
            notes += [Note("asset_excluded", s, "no usable vol estimate") for s in lost]
            diag.set_texts("excluded", screened.excluded | dict.fromkeys(lost, "no usable vol estimate"))
        model = build_risk_model(
            daily_vol,
            screened.window.to_numpy(),
            kept.to_numpy(),
            self.config.risk.var,
            self.config.risk.periods_per_year,
        )
        return model, vols

    def _check_inputs(self, returns: pd.DataFrame, as_of: pd.Timestamp, notes: list[Note]) -> None:
        if not returns.index.is_monotonic_increasing or returns.index.has_duplicates:
            raise ValueError("returns index must be increasing and unique")
        if returns.columns.has_duplicates:
            raise ValueError("returns columns must be unique symbols")
        if len(returns.index) and returns.index[-1] > as_of:
            raise LookAheadError(f"returns run to {returns.index[-1]}, after as_of {as_of}")
        if self._last_as_of is not None and as_of < self._last_as_of:
            # Parameters fitted on later data would leak the future into this decision.
            self.volatility.reset()
            notes.append(Note("state_reset", None, f"as_of moved back from {self._last_as_of}"))
        self._last_as_of = as_of

    def _allocate(
        self, screened: ScreenedReturns, current: pd.Series, notes: list[Note]
    ) -> pd.Series:
        """Base weights (sum 1) on the kept assets; falls back MV -> HRP -> inverse variance."""
        alloc, window = self.config.allocation, screened.window
        if alloc.method == "mean_variance":
            mv = alloc.mean_variance
            try:
                return (
                    MeanVarianceAllocator(
                        mv.objective,
                        covariance=alloc.covariance,
                        target_volatility=mv.target_volatility,
                        target_return=mv.target_return,
                        risk_free_rate=mv.risk_free_rate,
                        weight_bounds=mv.weight_bounds,
                        asset_bounds=mv.asset_bounds,
                        max_weight=self.config.risk.max_weight,
                        sector_map=mv.sector_map,
                        sector_lower=mv.sector_lower,
                        sector_upper=mv.sector_upper,
                        turnover_penalty=mv.turnover_penalty,
                        turnover_limit=mv.turnover_limit,
                    )
                    .fit(window, current.dropna())
                    .weights_
                )
            except Exception as exc:  # noqa: BLE001 - infeasible problem, any solver failure
                notes.append(Note("allocation_fallback", None, f"mean_variance -> hrp: {exc}"))
        try:
            return HRPAllocator(alloc.hrp.linkage, alloc.covariance).fit(window).weights_
        except Exception as exc:  # noqa: BLE001 - a bad window must not stop the rebalance
            notes.append(Note("allocation_fallback", None, f"hrp -> inverse_variance: {exc}"))
            inv = 1.0 / window.var(ddof=1)
            return inv / inv.sum()

    def _finish(
        self,
        as_of: pd.Timestamp,
        book: Book,
        target: np.ndarray,
        model: RiskModel | None,
        scale: float,
        bound: Bound,
        diag: Diagnostics,
        notes: list[Note],
    ) -> Decision:
        """Trade filters, a final limit check, and the Decision. target: (U,) weights over
        ``book.universe``.

        Filters are tried from the most to the least turnover-saving; the first result that
        keeps every limit wins, else the unfiltered target (limits outrank turnover).
        """
        risk = self.config.risk
        attempts = (
            ("rebalance_band", risk.rebalance_band, True),
            ("min_trade", 0.0, True),
            ("min_trade_buys_only", 0.0, False),
        )
        final = target
        for name, band, skip_sells in attempts:
            if name == "rebalance_band" and band <= 0:
                continue
            candidate = apply_trade_filters(
                target,
                book.held.to_numpy(),
                min_trade=risk.min_trade,
                band=band,
                forced=book.forced,
                skip_small_sells=skip_sells,
            )
            if model is None or not violations(candidate[book.kept_mask], model, self.limits):
                final = candidate
                break
            notes.append(Note("trade_filter_relaxed", None, f"{name} kept weights over a limit"))
        final = clamp_to_caps(final, risk.max_weight, risk.max_gross)
        if model is not None and violations(final[book.kept_mask], model, self.limits):
            # Only reachable through a numerical failure upstream; cash is always within limits.
            notes.append(Note("limits_unmet", None, "target broke a limit: holding cash"))
            final = np.zeros_like(final)
        vol = var = cvar = 0.0
        if model is not None:
            w = final[book.kept_mask]
            tail = model.tail(w)
            vol, var, cvar = model.vol(w), tail.var, tail.cvar
        weights = pd.Series(final, index=pd.Index(book.universe), name="weight")
        diagnostics = diag.frame(target_weight=target, weight=final)
        decision = Decision(as_of, weights, vol, var, cvar, float(scale), bound, diagnostics, tuple(notes))
        self._log_decision(decision)
        return decision

    def _log_decision(self, decision: Decision) -> None:
        for note in decision.notes:
            self._log.warning(
                note.event, symbol=note.symbol, detail=note.detail, as_of=str(decision.as_of)
            )
        self._log.info(
            "portfolio_constructed",
            as_of=str(decision.as_of),
            vol=decision.vol,
            var=decision.var,
            cvar=decision.cvar,
            scale=decision.scale,
            bound=decision.bound,
            gross=float(decision.weights.sum()),
        )


def _median(vol_forecasts: pd.DataFrame) -> pd.Series:
    """The model's P50 daily vol by symbol (the ``q50`` column); empty without one."""
    if "q50" not in vol_forecasts.columns:
        return pd.Series(dtype=float)
    return last_by_symbol(pd.to_numeric(vol_forecasts["q50"], errors="coerce"))
