"""The offline HTML report of a run: one self-contained file, plotly.js inlined (no CDN).

Sections: equity against the equal-weight benchmark with drawdowns, monthly returns,
rolling six-month Sharpe and volatility, turnover and costs, weights over time, risk
limits bound over time, and the statistics table (``daemon.report``'s figures) with
vectorbt's figures for the same fills beside ours. The figures are also embedded as JSON
(``<script id="tradingd-report" type="application/json">``) for machines and tests.
"""

from __future__ import annotations

import html
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from dashboard import charts
from dashboard.crosscheck import vectorbt_stats
from dashboard.data import RunData
from dashboard.views import Performance, performance

__all__ = ["build_report", "report_figures", "statistics_rows", "write_report"]

# (our Summary field, label, format, vectorbt key)
STAT_ROWS: tuple[tuple[str, str, str, str | None], ...] = (
    ("start_cash", "start value", ",.2f", "start_value"),
    ("final_equity", "final equity", ",.2f", "end_value"),
    ("total_return", "total return", "+.2%", "total_return"),
    ("cagr", "CAGR", "+.2%", None),
    ("ann_volatility", "volatility (ann.)", ".2%", "ann_volatility"),
    ("sharpe", "Sharpe (rf=0)", ".3f", "sharpe"),
    ("max_drawdown", "max drawdown", ".2%", "max_drawdown"),
    ("turnover_per_year", "turnover per year", ".2f", None),
    ("fees", "commissions", ",.2f", "fees"),
    ("slippage_cost", "slippage and impact", ",.2f", None),
    ("costs", "costs paid", ",.2f", None),
    ("fills", "fills", "d", "orders"),
    ("orders", "orders", "d", None),
    ("rejected", "rejected", "d", None),
)


def report_figures(run: RunData, perf: Performance) -> list[tuple[str, go.Figure | str]]:
    """(section title, figure or a one-line note) in report order."""
    sections: list[tuple[str, go.Figure | str]] = []
    if perf.equity.empty:
        return [("Equity", "The run has no marks yet.")]
    sections.append(("Equity and drawdown", charts.equity_figure(
        perf.equity, perf.drawdown, perf.benchmark, perf.benchmark_drawdown)))
    sections.append(("Monthly returns", charts.monthly_heatmap(perf.monthly)))
    sections.append(("Rolling Sharpe and volatility", charts.rolling_figure(perf.rolling) if not perf.rolling.empty
                     else "Fewer than six months of marks: no rolling figures."))
    sections.append(("Turnover and costs", charts.costs_figure(perf.trading)))
    if perf.weights is not None and not perf.weights.empty:
        sections.append(("Weights over time", charts.weights_figure(perf.weights)))
    else:
        sections.append(("Weights over time", "No holdings, or no prices to value them."))
    sections.append(("Risk limits bound over time", charts.bound_figure(run.risk) if not run.risk.empty
                     else "No risk decisions (the `portfolio` strategy records one per rebalance)."))
    return sections


def statistics_rows(run: RunData, perf: Performance) -> tuple[list[dict[str, object]], str | None]:
    """The statistics table (label, ours, vectorbt's) and, if vectorbt could not run, why."""
    if perf.closes is None:
        theirs: dict[str, float] | str = "no prices"
    elif not run.adjustments.empty:  # splits, dividends, delistings moved shares and cash outside the fills
        theirs = f"not run: {len(run.adjustments)} corporate action(s) changed the book, and vectorbt replays fills only"
    else:
        theirs = vectorbt_stats(run.fills, perf.closes, run.start_cash)
    note = theirs if isinstance(theirs, str) else None
    ours = run.summary.as_dict()
    rows = []
    for key, label, fmt, vkey in STAT_ROWS:
        other = theirs.get(vkey) if isinstance(theirs, dict) and vkey else None
        rows.append({"key": key, "label": label, "format": fmt, "ours": ours[key], "vectorbt": other})
    if perf.benchmark is not None and not perf.benchmark.empty:
        mine = float(perf.benchmark.iloc[-1] / run.start_cash - 1.0)
        other = theirs.get("benchmark_return") if isinstance(theirs, dict) else None
        rows.append({"key": "benchmark_return", "label": "equal-weight benchmark return", "format": "+.2%",
                     "ours": mine, "vectorbt": other})
    return rows, note


def _cell(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, fmt)


def _table(rows: list[dict[str, object]]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(str(r['label']))}</th><td>{_cell(r['ours'], str(r['format']))}</td>"
        f"<td>{_cell(r['vectorbt'], str(r['format']))}</td></tr>"
        for r in rows
    )
    return f"<table class='stats'><thead><tr><th></th><th>tradingd</th><th>vectorbt</th></tr></thead>{body}</table>"


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0; } .meta { color: #666; margin-top: .3rem; }
table.stats { border-collapse: collapse; margin: 1rem 0; }
table.stats th, table.stats td { padding: .25rem .8rem; border-bottom: 1px solid #ddd; text-align: right; }
table.stats th:first-child { text-align: left; } section { margin-top: 2rem; } .note { color: #666; }
"""


def build_report(run: RunData) -> str:
    """The whole HTML document for ``run``."""
    perf = performance(run)
    rows, note = statistics_rows(run, perf)
    s = run.summary
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>tradingd report {html.escape(run.run_id)}</title><style>{STYLE}</style>",
        f"<script>{get_plotlyjs()}</script></head><body>",
        f"<h1>tradingd report</h1><p class='meta'>run {html.escape(run.run_id)} ({html.escape(str(run.run['mode']))},"
        f" {html.escape(str(run.run['strategy']))}) · {str(s.start)[:10]} .. {str(s.end)[:10]}, {s.marks} marks"
        f" · written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</p>",
        "<section><h2>Statistics</h2>",
        _table(rows),
        f"<p class='note'>vectorbt: {html.escape(note)}</p>" if note else
        "<p class='note'>vectorbt replays the run's own fills on the same closes: its figures are an independent"
        " check of ours.</p>",
        "</section>",
    ]
    sections = report_figures(run, perf)
    for title, item in sections:
        parts.append(f"<section><h2>{html.escape(title)}</h2>")
        if isinstance(item, str):
            parts.append(f"<p class='note'>{html.escape(item)}</p>")
        else:
            item.update_layout(title_text=None, margin_t=30)  # the section heading names it
            parts.append(item.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}))
        parts.append("</section>")
    data = {"run_id": run.run_id, "summary": s.as_dict(), "statistics": rows,
            "charts": sum(1 for _, item in sections if not isinstance(item, str))}
    blob = json.dumps(data, default=str).replace("</", "<\\/")
    parts.append(f"<script id='tradingd-report' type='application/json'>{blob}</script></body></html>")
    return "".join(parts)


def write_report(run: RunData, out: str | Path) -> Path:
    """Write the report atomically (a temporary file renamed into place)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(build_report(run), encoding="utf-8")
    tmp.replace(out)
    return out
