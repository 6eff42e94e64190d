"""W2: default portfolio construction vs a notebook loop over pypfopt and arch.

The default construction (HRP + GARCH(1,1) vol target + historical VaR limit), rebalanced at
every month end of the bundled S&P 500 set (skfolio, 20 stocks, 1990-2022), is timed side by
side with the loop a user would write in a notebook: pypfopt's ``HRPOpt`` and arch's
``arch_model(...).fit()`` / ``res.forecast()`` called directly at every rebalance, with the
same limits written out by hand. It then reruns the pipeline with other GARCH refit cadences,
warm starts and refits after the decision (``risk.garch.refit_at``) and reports how much
each one moves the weights.

    .venv/bin/python bench/w2.py                 # full run, ~10 minutes on 2 busy cores
    .venv/bin/python bench/w2.py --start 2006 --end 2010 --variants 1,3   # quick look
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd
import structlog
from arch import arch_model
from pypfopt import HRPOpt
from skfolio.datasets import load_sp500_dataset
from skfolio.measures import value_at_risk

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from strategies.portfolio import PortfolioConstructor
from strategies.portfolio_config import load_portfolio_config

DEFAULTS = load_portfolio_config()
LOOKBACK, MIN_HISTORY = DEFAULTS.allocation.lookback, DEFAULTS.allocation.min_history
GARCH_WINDOW, GARCH_MIN_OBS = DEFAULTS.risk.garch.window, DEFAULTS.risk.garch.min_obs
TARGET_VOL, MAX_VAR = DEFAULTS.risk.target_vol, DEFAULTS.risk.max_var
MAX_WEIGHT, MIN_TRADE = DEFAULTS.risk.max_weight, DEFAULTS.risk.min_trade
VAR_LOOKBACK, CONFIDENCE = DEFAULTS.risk.var.lookback, DEFAULTS.risk.var.confidence


# --- the notebook: what a user writes without tradingd --------------------------------------


def notebook_garch_vol(y: pd.Series) -> float:
    """Daily vol of one asset: arch GARCH(1,1) on percent returns, EWMA if it is unusable."""
    y = 100 * y.dropna()
    if len(y) >= GARCH_MIN_OBS:
        res = arch_model(y, vol="GARCH", p=1, q=1, dist="normal").fit(
            disp="off", show_warning=False
        )
        if res.convergence_flag == 0:
            var = res.forecast(horizon=1, reindex=False).variance.iloc[-1, 0]
            ratio = np.sqrt(var) / y.std(ddof=0)
            if np.isfinite(var) and var > 0 and 0.1 <= ratio <= 10:
                return np.sqrt(var) / 100
    lam = 0.94 ** np.arange(len(y))[::-1]
    return np.sqrt((lam * y**2).sum() / lam.sum()) / 100


def notebook_loop(returns: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.DataFrame:
    rows, w_prev = {}, pd.Series(0.0, index=returns.columns)
    for d in dates:
        history = returns.loc[:d]
        window = history.iloc[-LOOKBACK:]
        if len(window) < MIN_HISTORY:
            rows[d] = w_prev = pd.Series(0.0, index=returns.columns)
            continue
        w = pd.Series(HRPOpt(returns=window).optimize(linkage_method="single"))[returns.columns]
        while (w > MAX_WEIGHT).any():  # cap and hand the excess to the others pro rata
            excess = (w[w > MAX_WEIGHT] - MAX_WEIGHT).sum()
            w[w > MAX_WEIGHT] = MAX_WEIGHT
            free = w < MAX_WEIGHT
            w[free] += excess * w[free] / w[free].sum()
        vol = pd.Series({s: notebook_garch_vol(history[s].iloc[-GARCH_WINDOW:]) for s in w.index})
        cov = np.outer(vol, vol) * window.corr().to_numpy()
        scenarios = history.iloc[-VAR_LOOKBACK:].to_numpy()

        def risk(x, cov=cov, scenarios=scenarios):
            return np.sqrt(x @ cov @ x * 252), value_at_risk(scenarios @ x, beta=CONFIDENCE)

        port_vol, var = risk(w.to_numpy())
        scale = min(1.0, TARGET_VOL / port_vol, MAX_VAR / var, 1.0 / w.sum())
        if scale < 1:
            scale *= 1 - 1e-12
        target = w * scale
        final = target
        for sells_too in (True, False):  # skip trades under MIN_TRADE unless a limit breaks
            skip = (target - w_prev).abs() < MIN_TRADE
            if not sells_too:
                skip &= w_prev <= target
            candidate = target.where(~skip, w_prev)
            c_vol, c_var = risk(candidate.to_numpy())
            if (
                c_vol <= TARGET_VOL + 1e-9
                and c_var <= MAX_VAR * (1 + 1e-9)
                and candidate.sum() <= 1
                and candidate.max() <= MAX_WEIGHT
            ):
                final = candidate
                break
        rows[d] = w_prev = final
    return pd.DataFrame(rows).T


# --- tradingd -------------------------------------------------------------------------------


def pipeline_loop(returns: pd.DataFrame, dates, garch: dict) -> tuple[pd.DataFrame, pd.Series]:
    config = load_portfolio_config({"risk": {"garch": garch}})
    rows, bounds, w_prev = {}, {}, pd.Series(dtype=float)
    with PortfolioConstructor(config) as constructor:
        for d in dates:
            decision = constructor.construct(returns.loc[:d], w_prev, None, d)
            constructor.refit()  # the `refit` job's work (risk.garch.refit_at = "after_decision")
            rows[d] = w_prev = decision.weights
            bounds[d] = decision.bound
    return pd.DataFrame(rows).T[returns.columns], pd.Series(bounds)


class Stopwatch:
    """Wall and CPU seconds of a block; CPU includes worker processes reaped inside it."""

    def __enter__(self) -> Self:
        self._wall, self._cpu = time.perf_counter(), self._cpu_now()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = self._cpu_now() - self._cpu

    @staticmethod
    def _cpu_now() -> float:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime


def realised(weights: pd.DataFrame, returns: pd.DataFrame) -> tuple[float, float]:
    """Annualised return and vol of holding each rebalance's weights until the next one."""
    held = weights.reindex(returns.index).shift(1).ffill().fillna(0.0)
    daily = (held * returns).sum(axis=1).loc[weights.index[0] :]
    return daily.mean() * 252, daily.std() * np.sqrt(252)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="1990")
    parser.add_argument("--end", default="2022")
    parser.add_argument("--n-jobs", type=int, default=2, help="GARCH worker processes")
    parser.add_argument("--variants", default="1,3,6,12", help="refit cadences to compare")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))

    returns = load_sp500_dataset().pct_change().iloc[1:]
    returns = returns.loc[: f"{args.end}-12-31"]
    month_ends = returns.groupby(returns.index.to_period("M")).tail(1).index
    dates = month_ends[month_ends >= f"{args.start}-01-01"]
    print(
        f"W2: {len(dates)} month-end rebalances {dates[0].date()}..{dates[-1].date()}, "
        f"{returns.shape[1]} assets"
    )

    with Stopwatch() as nb:
        reference = notebook_loop(returns, dates)
    print(f"notebook loop (pypfopt + arch directly): {nb.wall:.1f} s wall, {nb.cpu:.1f} s cpu")

    runs = {}
    variants = [("refit every 1", {"refit_every": 1})]
    if args.n_jobs > 1:
        variants += [(f"refit every 1, n_jobs={args.n_jobs}", {"n_jobs": args.n_jobs})]
    variants += [
        (f"refit every {k}", {"refit_every": k})
        for k in map(int, args.variants.split(","))
        if k > 1
    ]
    variants += [("refit every 1, warm start", {"warm_start": True})]
    variants += [("refit every 1, after the decision", {"refit_at": "after_decision"})]
    for name, garch in variants:
        with Stopwatch() as clock:
            weights, bounds = pipeline_loop(returns, dates, garch)
        runs[name] = (clock, weights, bounds)

    base_weights, base_bounds = runs["refit every 1"][1], runs["refit every 1"][2]
    header = (
        "variant",
        "wall s",
        "cpu s",
        "x wall",
        "x cpu",
        "max|dw| vs notebook",
        "max|dw| vs refit 1",
        "mean L1 vs refit 1",
        "bound differs",
        "ann.ret",
        "ann.vol",
    )
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    ret, vol = realised(reference, returns)
    print(
        f"| notebook | {nb.wall:.1f} | {nb.cpu:.1f} | 1.00 | 1.00 | 0 | | | | {ret:.4f} | "
        f"{vol:.4f} |"
    )
    for name, (clock, weights, bounds) in runs.items():
        vs_nb = (weights - reference).abs().to_numpy().max()
        diff = (weights - base_weights).abs().to_numpy()
        ret, vol = realised(weights, returns)
        print(
            f"| {name} | {clock.wall:.1f} | {clock.cpu:.1f} | {nb.wall / clock.wall:.2f} | "
            f"{nb.cpu / clock.cpu:.2f} | {vs_nb:.1e} | {diff.max():.1e} | "
            f"{diff.sum(axis=1).mean():.1e} | {(bounds != base_bounds).sum()} | {ret:.4f} | "
            f"{vol:.4f} |"
        )
    counts = base_bounds.value_counts()
    print("\nbinding limit (refit every 1):", ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
