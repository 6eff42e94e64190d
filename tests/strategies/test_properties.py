"""Invariants over random and degenerate inputs: whatever comes in, the book is valid.

Valid means finite, >= 0, each <= max_weight, sum <= max_gross, forecast vol <= target_vol
(1e-9) and VaR/CVaR within their limits, with every input and held symbol accounted for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from strategies.portfolio import PortfolioConstructor
from strategies.portfolio_config import load_portfolio_config
from strategies.risk import (
    GarchVolatility,
    Limits,
    RiskModel,
    cap_weights,
    scale_to_limits,
)

CORRUPTIONS = ["nan", "inf", "constant", "duplicate", "short", "crash", "huge", "garch_fails"]


def _garch_fails(tasks):
    return ["LinAlgError: singular matrix" for _ in tasks]


@st.composite
def returns_frames(draw) -> tuple[pd.DataFrame, set[str]]:
    """(T x N) daily returns, N in 1..5, T in 0..300, with a random set of corruptions."""
    n_assets = draw(st.integers(1, 5))
    n_obs = draw(st.integers(0, 300))
    corruptions = draw(st.sets(st.sampled_from(CORRUPTIONS), max_size=4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    vols = rng.uniform(0.002, 0.05, n_assets)
    x = (0.5 * rng.standard_normal((n_obs, 1)) + rng.standard_normal((n_obs, n_assets))) * vols
    if n_obs:
        pick = lambda: int(rng.integers(n_assets))
        if "nan" in corruptions:
            x[rng.random(x.shape) < rng.uniform(0.01, 0.6)] = np.nan
        if "inf" in corruptions:
            x[rng.integers(n_obs, size=3), rng.integers(n_assets, size=3)] = np.inf
        if "constant" in corruptions:
            x[:, pick()] = 0.0
        if "duplicate" in corruptions and n_assets > 1:
            x[:, 1] = x[:, 0]
        if "short" in corruptions:
            x[: max(n_obs - int(rng.integers(1, 40)), 0), pick()] = np.nan
        if "crash" in corruptions:
            x[rng.integers(n_obs), pick()] = -1.5
        if "huge" in corruptions:
            x[rng.integers(n_obs), pick()] = 8.0
    index = pd.bdate_range(end="2021-06-30", periods=n_obs)
    return pd.DataFrame(x, index=index, columns=[f"A{i}" for i in range(n_assets)]), corruptions


limits_settings = st.fixed_dictionaries(
    {
        "target_vol": st.floats(0.02, 0.6),
        "max_weight": st.floats(0.05, 1.0),
        "max_gross": st.floats(0.2, 1.5),
        "max_var": st.one_of(st.none(), st.floats(0.002, 0.05)),
        "max_cvar": st.one_of(st.none(), st.floats(0.003, 0.08)),
        "min_trade": st.floats(0.0, 0.01),
        "rebalance_band": st.floats(0.0, 0.05),
        "var": st.fixed_dictionaries(
            {
                "method": st.sampled_from(["historical", "parametric", "monte_carlo"]),
                "lookback": st.just(100),
                "n_sims": st.just(500),
            }
        ),
    }
)

held_weights = st.dictionaries(
    st.sampled_from(["A0", "A1", "A2", "A3", "A4", "GONE"]),
    st.one_of(st.floats(-0.2, 0.6), st.just(np.nan), st.just(np.inf)),
    max_size=6,
)


def _forecasts(symbols, rng) -> pd.DataFrame:
    q50 = rng.normal(0, 0.02, len(symbols))
    spread = rng.uniform(-0.01, 0.05, len(symbols))  # negative spread: crossing quantiles
    return pd.DataFrame({"q10": q50 - spread, "q50": q50, "q90": q50 + spread}, index=symbols)


class TestConstructInvariants:
    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        frame=returns_frames(),
        risk=limits_settings,
        held=held_weights,
        with_forecasts=st.booleans(),
        method=st.sampled_from(["hrp", "mean_variance"]),
    )
    def test_any_input_gives_a_valid_book(self, frame, risk, held, with_forecasts, method):
        returns, corruptions = frame
        config = load_portfolio_config(
            {
                "allocation": {"method": method, "lookback": 60, "min_history": 20},
                "risk": {**risk, "garch": {"window": 120, "min_obs": 60}},
            }
        )
        fitter = {"fit_many": _garch_fails} if "garch_fails" in corruptions else {}
        constructor = PortfolioConstructor(
            config, volatility=GarchVolatility(config.risk.garch, **fitter)
        )
        rng = np.random.default_rng(len(returns))
        forecasts = _forecasts(returns.columns, rng) if with_forecasts else None
        as_of = returns.index[-1] if len(returns) else pd.Timestamp("2021-06-30")

        decision = constructor.construct(returns, pd.Series(held, dtype=float), forecasts, as_of)

        w = decision.weights.to_numpy()
        event(f"bound {decision.bound}, {'invested' if w.sum() > 0 else 'all cash'}")
        assert set(decision.weights.index) == set(returns.columns) | set(held)
        assert np.all(np.isfinite(w)) and np.all(w >= 0)
        assert np.all(w <= config.risk.max_weight)
        assert w.sum() <= config.risk.max_gross
        assert np.isfinite(decision.vol) and decision.vol <= config.risk.target_vol + 1e-9
        if config.risk.max_var is not None:
            assert decision.var <= config.risk.max_var * (1 + 1e-9)
        if config.risk.max_cvar is not None:
            assert decision.cvar <= config.risk.max_cvar * (1 + 1e-9)
        assert decision.bound in {"target_vol", "max_var", "max_cvar", "max_gross", "none"}
        for symbol in set(held) - set(returns.columns):
            assert decision.weights[symbol] == 0


class TestLimitKernels:
    @settings(max_examples=200, deadline=None)
    @given(raw=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12), cap=st.floats(0.01, 1.0))
    def test_cap_keeps_the_total_when_it_can_and_never_exceeds_the_cap(self, raw, cap):
        w = np.asarray(raw)

        capped = cap_weights(w, cap)

        assert np.all(capped <= cap) and np.all(capped >= 0)
        expected_total = min(w.sum(), cap * np.count_nonzero(w))
        assert abs(capped.sum() - expected_total) <= 1e-9 * max(1.0, w.sum())

    @settings(max_examples=200, deadline=None)
    @given(
        seed=st.integers(0, 2**32 - 1),
        n=st.integers(1, 6),
        target=st.floats(0.01, 1.0),
        gross=st.floats(0.1, 2.0),
        max_var=st.floats(0.001, 0.1),
    )
    def test_scaling_meets_every_limit_and_keeps_the_shape(self, seed, n, target, gross, max_var):
        rng = np.random.default_rng(seed)
        a = rng.normal(0, 0.02, (n, n))
        model = RiskModel(a @ a.T, np.zeros(n), rng.normal(0, 0.02, (200, n)), 0.95, 252)
        w = rng.dirichlet(np.ones(n)) * rng.uniform(0.1, 2.0)
        limits = Limits(target, gross, 1.0, max_var=max_var)

        scaled = scale_to_limits(w, model, limits)

        assert model.vol(scaled.weights) <= target + 1e-9
        assert scaled.weights.sum() <= gross
        assert model.tail(scaled.weights).var <= max_var * (1 + 1e-9)
        assert 0 < scaled.scale <= 1
        np.testing.assert_allclose(scaled.weights, w * scaled.scale)
