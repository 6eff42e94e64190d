"""Univariate GARCH estimation and one-step variance forecasts on top of arch.

`fit_garch` reproduces ``arch_model(y, ...).fit(disp="off")`` bit for bit: the same model
pieces (arch's mean, volatility and distribution objects), the same starting values, bounds,
constraints, objective and SLSQP call. It only drops what a rebalance does not need and what
dominates a small fit's run time:

* arch passes its linear constraints to SLSQP as one scalar function per row, so SciPy
  finite-differences each row separately on every iteration. Here the rows are one vector
  function, evaluated row by row with the same ``np.dot`` and differenced by SciPy in one
  call, which yields the same Jacobian to the last bit at a fraction of the cost.
* GARCH(1,1)'s starting-value grid is evaluated without arch's 48 repeated points.
* no parameter covariance, result object, deep copy of the model or pandas forecast frame.

It uses arch only through public names (the model pieces' methods); arch's own
``arch_model(...).fit()`` is the oracle the tests compare against. Through arch's fit
directly each fit took 2.0x as long (bench/RESULTS.md, issue 10), which would cost the
default backtest its W2 margin.

`filter_garch` is ``arch_model(y).fix(params).forecast(horizon=1)``: it recomputes the
backcast and variance bounds from the fitted residuals, as arch's ``forecast`` does, so the
one-step forecast of a fit equals arch's own ``res.forecast()``.

Inputs are returns in percent (arch's numerically comfortable scale); outputs are variances
in percent squared. Everything here is pure and picklable so fits can run in worker processes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from arch import arch_model
from arch.univariate import EGARCH, GARCH, Normal, StudentsT
from scipy.optimize import minimize

__all__ = ["GarchFit", "GarchSpec", "filter_garch", "fit_garch", "fit_many"]

Flavour = Literal["garch", "gjr", "egarch"]
Distribution = Literal["normal", "t"]


@dataclass(frozen=True, slots=True)
class GarchSpec:
    """Which univariate model to fit: constant mean, (1, o, 1) volatility, error law.

    ``gjr`` and ``egarch`` carry one asymmetry term (o=1); ``garch`` has none.
    """

    flavour: Flavour = "garch"
    distribution: Distribution = "normal"

    def model(self, y_pct: np.ndarray):
        """The arch model for `y_pct` (shape (T,), percent returns), rescaling off: what a
        direct arch user would fit, and the reference the tests compare against."""
        return arch_model(
            y_pct,
            mean="Constant",
            vol="EGARCH" if self.flavour == "egarch" else "GARCH",
            p=1,
            o=0 if self.flavour == "garch" else 1,
            q=1,
            dist=self.distribution,
            rescale=False,
        )

    def volatility(self):
        """A fresh arch volatility process (the same one `model` builds, without the pandas
        work of a mean model; fresh because EGARCH caches work arrays on the instance)."""
        o = 0 if self.flavour == "garch" else 1
        return EGARCH(p=1, o=o, q=1) if self.flavour == "egarch" else GARCH(p=1, o=o, q=1)

    def error_distribution(self):
        return StudentsT() if self.distribution == "t" else Normal()


@dataclass(frozen=True, slots=True)
class GarchFit:
    """Result of one estimation.

    params: shape (k,), arch's order (mu, omega, alpha[, gamma], beta[, nu]).
    variance: one-step-ahead conditional variance of the percent returns.
    converged: SLSQP reported success (arch's ``convergence_flag == 0``).
    """

    params: np.ndarray
    variance: float
    converged: bool
    loglikelihood: float
    nobs: int
    iterations: int


def _stacked_constraints(blocks: Sequence[tuple[np.ndarray, np.ndarray]], sizes: Sequence[int]):
    """Block-diagonal ``a x - b >= 0`` from the mean, volatility and distribution pieces."""
    n_rows = sum(a.shape[0] for a, _ in blocks)
    a_all = np.zeros((n_rows, sum(sizes)))
    b_all = np.zeros(n_rows)
    row = col = 0
    for (a, b), size in zip(blocks, sizes, strict=True):
        if a.shape[0]:
            a_all[row : row + a.shape[0], col : col + size] = a
            b_all[row : row + a.shape[0]] = b
        row += a.shape[0]
        col += size
    return a_all, b_all


def _feasible(x: np.ndarray, bounds, a: np.ndarray, b: np.ndarray) -> bool:
    """arch's test for usable starting values (it silently falls back when this fails)."""
    if x.shape[0] != a.shape[1] or not np.all(np.isfinite(x)):
        return False
    if a.shape[0] and not np.all(a.dot(x) - b >= 0):
        return False
    return all(lo <= v <= hi for v, (lo, hi) in zip(x, bounds, strict=True))


def _garch_starting_values(
    vol: GARCH, resids: np.ndarray, backcast: float, var_bounds: np.ndarray
) -> np.ndarray:
    """arch's starting values for a GARCH(1, 0, 1) (``GARCH.starting_values``), without
    its repeats.

    arch crosses 4 alphas x 4 gammas x 4 persistences even without an asymmetry term, so
    48 of its 64 Gaussian likelihood evaluations repeat one of the other 16 (about 12% of a
    fit). This evaluates the 16 distinct candidates in arch's order with the pieces arch
    uses (``compute_variance`` and a normal likelihood, both public), so it picks the same
    point; a test holds it to ``vol.starting_values`` (the oracle).
    """
    power = 2.0  # GARCH's power; the lines below are arch's, so the floats are the same
    target = np.mean(np.absolute(resids) ** power)
    scale = np.mean(resids**2) / (target ** (2.0 / power))
    target *= scale ** (power / 2)
    normal, sigma2 = Normal(), np.zeros(resids.shape[0], dtype=float)
    best, best_llf = None, -np.inf
    for alpha in (0.01, 0.05, 0.1, 0.2):
        for persistence in (0.5, 0.7, 0.9, 0.98):
            sv = np.array([(1.0 - persistence) * target, alpha, persistence - alpha])
            vol.compute_variance(sv, resids, sigma2, backcast, var_bounds)
            llf = float(normal.loglikelihood([], resids, sigma2))
            if best is None or llf > best_llf:  # first maximum wins, as np.argmax
                best, best_llf = sv, llf
    return best


def fit_garch(
    y_pct: np.ndarray, spec: GarchSpec, starting_values: np.ndarray | None = None
) -> GarchFit:
    """Maximum-likelihood fit of `spec` to `y_pct` (shape (T,), finite percent returns).

    With `starting_values` (e.g. the previous fit's params) arch's grid search for starting
    values is skipped; infeasible ones fall back to the grid (arch would warn and start from
    them anyway, which leaves SLSQP outside its constraints). Raises whatever
    arch raises on unusable data (callers treat that as a failed fit).
    """
    y = np.ascontiguousarray(y_pct, dtype=float)
    if y.ndim != 1 or y.shape[0] < 10 or not np.isfinite(y).all():
        raise ValueError(f"need >= 10 finite returns in a 1-d array, got shape {y.shape}")
    with np.errstate(all="ignore"):  # degenerate data: the convergence flag reports it
        return _fit(y, spec, starting_values)


def _fit(y: np.ndarray, spec: GarchSpec, starting_values: np.ndarray | None) -> GarchFit:
    vol, dist = spec.volatility(), spec.error_distribution()
    # arch's ConstantMean: starting value from OLS on a constant column, no bounds on mu,
    # no constraints (HARX.bounds / HARX.constraints for one regressor).
    mean_sv = np.linalg.pinv(np.ones((y.shape[0], 1))).dot(y)
    mean_bounds: list[tuple[float, float]] = [(-np.inf, np.inf)]
    mean_constraints = (np.empty((0, 1)), np.empty(0))
    resids = y - mean_sv[0]
    backcast = vol.backcast(resids)
    var_bounds = vol.variance_bounds(resids)
    sizes = (1, vol.num_params, dist.num_params)
    a, b = _stacked_constraints((mean_constraints, vol.constraints(), dist.constraints()), sizes)
    sigma2 = np.zeros(y.shape[0])
    # Normal and Student-t bounds do not depend on the standardised residuals, so a warm
    # start can skip the grid search that produces them.
    bounds = mean_bounds + vol.bounds(resids) + dist.bounds(resids)
    sv = None if starting_values is None else np.asarray(starting_values, dtype=float)
    if sv is None or not _feasible(sv, bounds, a, b):
        if spec.flavour == "garch":
            vol_sv = _garch_starting_values(vol, resids, backcast, var_bounds)
        else:
            vol_sv = vol.starting_values(resids)
        vol.compute_variance(vol_sv, resids, sigma2, backcast, var_bounds)
        std_resids = resids / np.sqrt(sigma2)
        bounds = mean_bounds + vol.bounds(resids) + dist.bounds(std_resids)
        sv = np.hstack([mean_sv, vol_sv, dist.starting_values(std_resids)])

    k_vol = sizes[1]

    def neg_loglik(x: np.ndarray) -> float:
        res = y - x[0]
        s2 = vol.compute_variance(x[1 : 1 + k_vol], res, sigma2, backcast, var_bounds)
        return -float(dist.loglikelihood(x[1 + k_vol :], res, s2))

    opt = _slsqp(neg_loglik, sv, bounds, a, b)
    params = np.array(opt.x, dtype=float)
    params.flags.writeable = False
    return GarchFit(
        params=params,
        variance=filter_garch(y, spec, params),
        converged=bool(opt.status == 0),
        loglikelihood=-float(opt.fun),
        nobs=int(y.shape[0]),
        iterations=int(opt.nit),
    )


def _slsqp(objective, start: np.ndarray, bounds, a: np.ndarray, b: np.ndarray):
    """arch's SLSQP call: `objective` from `start` within `bounds`, subject to ``a x >= b``."""
    rows = [(a[i], b[i]) for i in range(a.shape[0])]

    def constraint_values(x: np.ndarray) -> np.ndarray:
        # Row by row with np.dot, as arch's per-row closures compute them.
        return np.array([np.dot(coeff, x) - val for coeff, val in rows])

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "Values in x were outside bounds during a minimize step", RuntimeWarning
        )
        return minimize(
            objective,
            start,
            method="SLSQP",
            bounds=bounds,
            constraints={"type": "ineq", "fun": constraint_values} if rows else (),
            options={"disp": False},
        )


def filter_garch(y_pct: np.ndarray, spec: GarchSpec, params: np.ndarray) -> float:
    """One-step-ahead variance of `y_pct` (shape (T,)) under fixed `params`.

    Equals ``arch_model(y_pct, ...).fix(params).forecast(horizon=1).variance`` (and, for
    fitted params, ``res.forecast(horizon=1)``): backcast and bounds come from the residuals
    under `params`, exactly as in arch's forecast.
    """
    y = np.ascontiguousarray(y_pct, dtype=float)
    vol = spec.volatility()
    k_vol = vol.num_params
    with np.errstate(all="ignore"):
        return _one_step_variance(y, vol, k_vol, params)


def _one_step_variance(y: np.ndarray, vol, k_vol: int, params: np.ndarray) -> float:
    resids = y - params[0]
    backcast = vol.backcast(resids)
    var_bounds = vol.variance_bounds(resids, 2.0)
    forecast = vol.forecast(
        params[1 : 1 + k_vol], resids, backcast, var_bounds, start=y.shape[0] - 1, horizon=1
    )
    return float(forecast.forecasts[-1, 0])


def fit_many(
    tasks: Sequence[tuple[np.ndarray, GarchSpec, np.ndarray | None]],
) -> list[GarchFit | str]:
    """Fit each (y_pct, spec, starting_values); a failure yields its message instead.

    Top-level so a process pool can pickle it; one call per worker chunk keeps the
    inter-process traffic to a few messages per rebalance.
    """
    out: list[GarchFit | str] = []
    for y, spec, start in tasks:
        try:
            out.append(fit_garch(y, spec, start))
        except Exception as exc:  # noqa: BLE001 - arch raises many types on bad data
            out.append(f"{type(exc).__name__}: {exc}")
    return out
