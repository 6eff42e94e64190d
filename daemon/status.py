"""``tradingd status``: what a run is doing, read from SQLite (safe while it runs).

Opens the database read-only; the daemon keeps writing (WAL) undisturbed.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from state.store import Store

__all__ = ["collect_risk", "collect_status", "pid_alive", "render_risk", "render_status"]


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect_status(store: Store, run_id: str | None = None, *, limit: int = 10) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data (the ``--json`` output)."""
    if run_id is None:
        rows = store.rows("select run_id from runs order by started_at desc, rowid desc limit 1")
        if not rows:
            raise LookupError("the database has no runs yet")
        run_id = rows[0]["run_id"]
    runs = store.rows(
        """select run_id, mode, status, started_at, finished_at, last_event_at, heartbeat_at,
                  strategy, start_cash, window_start, window_end, pid, host, version
           from runs where run_id = ?""",
        (run_id,),
    )
    if not runs:
        raise LookupError(f"no run {run_id!r}")
    run = runs[0]
    run["process_alive"] = run["status"] == "running" and pid_alive(run["pid"])
    if run["heartbeat_at"]:
        age = datetime.now(UTC) - datetime.fromisoformat(run["heartbeat_at"])
        run["heartbeat_age_s"] = round(age.total_seconds(), 1)
    equity = store.rows(
        "select ts, cash, equity, gross from equity where run_id = ? order by ts desc limit 1", (run_id,)
    )
    positions = store.rows(
        """select symbol, qty, avg_price, last_price, market_value from positions
           where run_id = ? and qty != 0 order by market_value desc""",
        (run_id,),
    )
    latest = equity[0] if equity else None
    for p in positions:
        p["weight"] = p["market_value"] / latest["equity"] if latest and latest["equity"] else None
    orders = store.rows(
        """select ts, symbol, side, qty, status, filled_qty, avg_fill_price, reason from orders
           where run_id = ? order by ts desc, rowid desc limit ?""",
        (run_id, limit),
    )
    jobs = store.rows(
        """select job, fired_at, finished_at, status, detail, error from jobs
           where run_id = ? order by id desc limit ?""",
        (run_id, limit),
    )
    counts = store.rows("select count(*) as orders from orders where run_id = ?", (run_id,))[0]
    return {
        "run": run,
        "equity": latest,
        "positions": positions,
        "orders": orders,
        "order_count": counts["orders"],
        "jobs": jobs,
    }


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> list[str]:
    def cell(value: Any, fmt: str) -> str:
        if value is None:
            return "-"
        return format(value, fmt) if fmt else str(value)

    header = [title for _, title, _ in columns]
    body = [[cell(r.get(key), fmt) for key, _, fmt in columns] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    return lines


def render_status(status: dict[str, Any], as_json: bool = False) -> str:
    if as_json:
        return json.dumps(status, indent=2, default=str)
    run = status["run"]
    alive = "alive" if run["process_alive"] else "not running"
    out = [
        f"run        {run['run_id']}  mode={run['mode']}  status={run['status']} (pid {run['pid']}, {alive})",
        f"strategy   {run['strategy']}  started {run['started_at']}",
        f"last event {run['last_event_at'] or '-'}  (heartbeat {run.get('heartbeat_age_s', '-')} s ago)",
    ]
    eq = status["equity"]
    if eq:
        out.append(
            f"equity     {eq['equity']:,.2f}  cash {eq['cash']:,.2f}  gross {eq['gross']:,.2f}  at {eq['ts']}"
        )
    else:
        out.append("equity     - (no marks yet)")
    out.append(f"positions  {len(status['positions'])}")
    out += _table(
        status["positions"],
        [("symbol", "symbol", ""), ("qty", "qty", ",.4f"), ("last_price", "price", ",.4f"),
         ("market_value", "value", ",.2f"), ("weight", "weight", ".2%")],
    )
    out.append(f"orders     {status['order_count']} in all; latest:")
    out += _table(
        status["orders"],
        [("ts", "decided", ""), ("symbol", "symbol", ""), ("side", "side", ""), ("qty", "qty", ",.4f"),
         ("status", "status", ""), ("avg_fill_price", "fill price", ",.4f"), ("reason", "reason", "")],
    )
    out.append("jobs       latest:")
    out += _table(
        status["jobs"],
        [("job", "job", ""), ("fired_at", "fired", ""), ("status", "status", ""), ("detail", "detail", ""),
         ("error", "error", "")],
    )
    return "\n".join(out)


def collect_risk(store: Store, run_id: str | None = None) -> dict[str, Any]:
    """The latest ``risk`` row of a run (default: the newest run that has one) and its limits."""
    if run_id is None:
        rows = store.rows(
            "select r.run_id from risk r join runs u using (run_id) order by u.started_at desc, r.ts desc limit 1"
        )
        if not rows:
            raise LookupError("no risk rows yet (the `portfolio` strategy records one per decision)")
        run_id = rows[0]["run_id"]
    rows = store.rows("select * from risk where run_id = ? order by ts desc limit 1", (run_id,))
    if not rows:
        raise LookupError(f"run {run_id!r} has no risk rows")
    row = rows[0]
    for key in ("limits", "weights", "diagnostics", "notes"):
        row[key] = json.loads(row[key]) if row[key] else None
    count = store.rows("select count(*) as n from risk where run_id = ?", (run_id,))[0]["n"]
    return {"run_id": run_id, "decisions": count, "latest": row}


def render_risk(report: dict[str, Any], as_json: bool = False) -> str:
    if as_json:
        return json.dumps(report, indent=2, default=str)
    row, limits = report["latest"], report["latest"]["limits"] or {}

    def fmt(value: Any, spec: str) -> str:
        return "off" if value is None or value is False else format(value, spec)

    out = [
        f"run        {report['run_id']}  ({report['decisions']} decisions recorded)",
        f"decided    {row['ts']}  on the bar of {row['bar_ts']}  ({row['strategy']})",
        f"forecast   vol {row['vol']:.2%} (annualised)  VaR {row['var']:.2%}  CVaR {row['cvar']:.2%}"
        f"  ({row['var_method']}, {row['confidence']:.0%}, one day)",
        f"scaling    x{row['scale']:.4f}  bound by: {row['bound']}  gross {row['gross']:.2%}",
        "limits     "
        + "  ".join(
            [
                f"target_vol {fmt(limits.get('target_vol'), '.2%')}",
                f"max_var {fmt(limits.get('max_var'), '.2%')}",
                f"max_cvar {fmt(limits.get('max_cvar'), '.2%')}",
                f"max_gross {fmt(limits.get('max_gross'), '.0%')}",
                f"max_weight {fmt(limits.get('max_weight'), '.0%')}",
            ]
        ),
        f"model      {limits.get('allocation', '-')} allocation, {limits.get('garch', '-')} volatility, "
        f"vol source {limits.get('vol_source', 'garch')}",
        "weights",
    ]
    diagnostics = row["diagnostics"] or {}
    entries = sorted((row["weights"] or {}).items(), key=lambda kv: -kv[1])
    table = []
    for symbol, weight in entries:
        d = diagnostics.get(symbol) or {}
        # The vol the risk model used (risk.vol_source); rows from before it: GARCH's.
        vol = d.get("risk_vol") if d.get("risk_vol") is not None else d.get("garch_vol")
        table.append({"symbol": symbol, "weight": weight, "base": d.get("base_weight"), "vol": vol,
                      "note": d.get("fallback") or d.get("excluded")})
    out += _table(table, [("symbol", "symbol", ""), ("weight", "weight", ".2%"), ("base", "HRP/MV", ".2%"),
                          ("vol", "vol (ann.)", ".2%"), ("note", "note", "")])
    if row["notes"]:
        out.append("notes")
        out += [f"  {n}" for n in row["notes"]]
    return "\n".join(out)
