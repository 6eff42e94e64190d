"""Performance summary of a run, computed from what the store recorded.

Definitions (daily marks, 252 trading days a year, risk-free rate 0):
total return = E_end / start_cash - 1; CAGR over calendar time; annualised volatility =
std(daily returns, ddof=1) x sqrt(252); Sharpe = mean / std x sqrt(252); max drawdown =
min(E / running max(E) - 1); turnover = sum |traded notional| / mean equity, per year;
costs = commissions + slippage and impact.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from state.lake import Lake
from state.store import Store

__all__ = ["Summary", "format_summary", "summarize", "with_benchmark"]


@dataclass(frozen=True)
class Summary:
    run_id: str
    start: str | None
    end: str | None
    marks: int
    start_cash: float
    final_equity: float
    total_return: float
    cagr: float
    ann_volatility: float
    sharpe: float
    max_drawdown: float
    turnover_per_year: float
    fees: float
    slippage_cost: float
    costs: float
    orders: int
    fills: int
    rejected: int
    cancelled: int
    benchmark: str | None = None
    benchmark_return: float | None = None  # total return (adjusted closes) over the same marks

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def summarize(store: Store, run_id: str) -> Summary:
    info = store.run(run_id)
    if info is None:
        raise KeyError(f"no run {run_id!r}")
    equity = pd.DataFrame(store.rows("select ts, equity from equity where run_id = ? order by ts", (run_id,)))
    trade = store.rows(
        "select coalesce(sum(abs(qty * price)), 0) as notional, coalesce(sum(fee), 0) as fees, "
        "coalesce(sum(cost), 0) as slip, count(*) as n from fills where run_id = ?",
        (run_id,),
    )[0]
    counts = {
        r["status"]: r["n"]
        for r in store.rows("select status, count(*) as n from orders where run_id = ? group by status", (run_id,))
    }
    start_cash = info.start_cash
    if equity.empty:
        values = np.array([start_cash])
        start = end = None
        years = 0.0
    else:
        values = equity["equity"].to_numpy(float)
        start, end = str(equity["ts"].iloc[0]), str(equity["ts"].iloc[-1])
        years = (pd.Timestamp(end) - pd.Timestamp(start)).days / 365.25
    final = float(values[-1])
    series = np.concatenate([[start_cash], values])
    daily = series[1:] / series[:-1] - 1.0
    vol = float(daily.std(ddof=1)) if len(daily) > 1 else 0.0
    drawdown = float((series / np.maximum.accumulate(series) - 1.0).min())
    cagr = (final / start_cash) ** (1.0 / years) - 1.0 if years > 0 and final > 0 else 0.0
    mean_equity = float(values.mean())
    return Summary(
        run_id=run_id,
        start=start,
        end=end,
        marks=len(equity),
        start_cash=start_cash,
        final_equity=final,
        total_return=final / start_cash - 1.0,
        cagr=cagr,
        ann_volatility=vol * math.sqrt(252),
        sharpe=float(daily.mean() / vol * math.sqrt(252)) if vol > 0 else 0.0,
        max_drawdown=drawdown,
        turnover_per_year=float(trade["notional"]) / mean_equity / years if years > 0 else 0.0,
        fees=float(trade["fees"]),
        slippage_cost=float(trade["slip"]),
        costs=float(trade["fees"]) + float(trade["slip"]),
        orders=sum(counts.values()),
        fills=int(trade["n"]),
        rejected=int(counts.get("rejected", 0)),
        cancelled=int(counts.get("cancelled", 0)) + int(counts.get("partially_filled", 0)),
    )


def with_benchmark(summary: Summary, lake: Lake, symbol: str) -> Summary:
    """``summary`` plus the total return of ``symbol``'s lake bars over the same marks: from
    the last close before the first mark to the close at the last one, adjusted for the
    splits and dividends in between (a total return)."""
    if summary.start is None or summary.end is None:
        return replace(summary, benchmark=symbol)
    first, last = pd.Timestamp(summary.start), pd.Timestamp(summary.end)
    # Known a day after the last mark (a bar is published after its close; an action after
    # the window scales both ends alike, so it cannot change the ratio).
    bars = lake.read_bars([symbol], None, last, as_of=last + pd.Timedelta(days=1))
    closes = bars.set_index("ts")["adj_close"].dropna()
    before, upto = closes[closes.index < first], closes[closes.index <= last]
    if upto.empty:
        return replace(summary, benchmark=symbol)
    base = before.iloc[-1] if len(before) else upto.iloc[0]
    return replace(summary, benchmark=symbol, benchmark_return=float(upto.iloc[-1] / base - 1.0))


def format_summary(s: Summary) -> str:
    """A fixed-width block for terminals."""
    rows = [
        ("run", s.run_id),
        ("period", f"{(s.start or '-')[:10]} .. {(s.end or '-')[:10]} ({s.marks} marks)"),
        ("final equity", f"{s.final_equity:,.2f} (start {s.start_cash:,.2f})"),
        ("total return", f"{s.total_return:+.2%}"),
        ("CAGR", f"{s.cagr:+.2%}"),
        ("volatility (ann.)", f"{s.ann_volatility:.2%}"),
        ("Sharpe (rf=0)", f"{s.sharpe:.2f}"),
        ("max drawdown", f"{s.max_drawdown:.2%}"),
        ("turnover", f"{s.turnover_per_year:.2f}x equity per year"),
        ("costs paid", f"{s.costs:,.2f} (commission {s.fees:,.2f}, slippage/impact {s.slippage_cost:,.2f})"),
        ("orders", f"{s.orders} ({s.fills} fills, {s.rejected} rejected, {s.cancelled} cancelled/partial)"),
    ]
    if s.benchmark is not None:
        versus = "no bars in the lake" if s.benchmark_return is None else f"{s.benchmark_return:+.2%} total return"
        rows.append((f"benchmark {s.benchmark}", versus))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
