"""Issue 10: a GARCH(1,1) fit per asset, two ways, side by side in one process.

* ``kernel``: ``strategies.risk.fit_garch`` (arch's model pieces through their public
  methods, driven by our SLSQP call; the same parameters as arch's fit);
* ``arch``: ``arch_model(y, ...).fit(disp="off")`` + ``res.forecast(horizon=1)``, the public API.

Workload: the default backtest's GARCH work, 20 S&P 500 stocks (skfolio set), window 1000,
one fit per symbol at each of `--months` month ends. Prints seconds per fit and ratios.

    .venv/bin/python bench/garch_fit.py --months 12
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from skfolio.datasets import load_sp500_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from strategies.risk._garch import GarchSpec, fit_garch  # noqa: E402


def arch_public(y: np.ndarray, spec: GarchSpec) -> tuple[np.ndarray, float]:
    res = spec.model(y).fit(disp="off", show_warning=False)
    return np.asarray(res.params), float(res.forecast(horizon=1, reindex=False).variance.iloc[-1, 0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--variants", default="kernel,arch")
    args = parser.parse_args()
    prices = load_sp500_dataset()
    returns = prices.pct_change().iloc[1:]
    month = returns.index.to_period("M")
    last_days = np.flatnonzero(month[1:] != month[:-1])  # last row of each month
    windows = []
    for pos in last_days[-args.months - 1 : -1]:
        for col in returns.columns:
            windows.append(100 * returns[col].iloc[pos - 999 : pos + 1].to_numpy())
    spec = GarchSpec()
    fns = {"kernel": lambda y: fit_garch(y, spec), "arch": lambda y: arch_public(y, spec)}
    names = args.variants.split(",")
    totals = dict.fromkeys(names, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for y in windows:  # interleaved, so load changes hit every variant alike
            for name in names:
                t0 = time.perf_counter()
                fns[name](y)
                totals[name] += time.perf_counter() - t0
    base = totals[names[0]]
    for name in names:
        per = totals[name] / len(windows)
        print(f"{name:12s} {len(windows)} fits  {totals[name]:7.2f} s  {1e3 * per:6.2f} ms/fit  x{totals[name] / base:.2f}")


if __name__ == "__main__":
    main()
