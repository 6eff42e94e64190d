"""Numbered, forward-only schema migrations for the SQLite store.

``PRAGMA user_version`` holds the schema version; ``migrations`` records when each step
ran. A migration is a function of the sqlite-utils ``Database``; each runs in its own
transaction. Never edit a released step: add a new one.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]


def _v1_core(db: Database) -> None:
    """The first schema: runs, orders, fills, positions, equity, jobs, targets and the views.

    Long because it is declarative (one table definition after another) and a released
    step, which is never edited: later changes are new migrations.
    """
    db["runs"].create(
        {
            "run_id": str,
            "mode": str,  # live | backtest
            "status": str,  # running | stopped | completed | failed
            "started_at": str,
            "finished_at": str,
            "last_event_at": str,  # clock time of the last recorded event
            "heartbeat_at": str,  # wall time of the last commit
            "config_hash": str,
            "config_json": str,
            "strategy": str,
            "start_cash": float,
            "window_start": str,
            "window_end": str,
            "pid": int,
            "host": str,
            "version": str,
        },
        pk="run_id",
        not_null={"mode", "status", "started_at", "config_hash", "start_cash"},
    )
    db["orders"].create(
        {
            "order_id": str,
            "run_id": str,
            "ts": str,  # decision time
            "symbol": str,
            "side": str,
            "qty": float,
            "status": str,  # submitted | filled | partially_filled | cancelled | rejected
            "reason": str,
            "filled_qty": float,
            "avg_fill_price": float,
            "updated_at": str,
        },
        pk="order_id",
        not_null={"run_id", "ts", "symbol", "side", "qty", "status"},
        foreign_keys=[("run_id", "runs", "run_id")],
    )
    db["fills"].create(
        {
            "fill_id": str,
            "order_id": str,
            "run_id": str,
            "ts": str,
            "symbol": str,
            "qty": float,  # signed: + buy, - sell
            "price": float,  # incl. slippage and impact
            "fee": float,
            "cost": float,  # slippage + impact vs bar price, currency
            "bar_price": float,
        },
        pk="fill_id",
        not_null={"order_id", "run_id", "ts", "symbol", "qty", "price", "fee"},
        foreign_keys=[("run_id", "runs", "run_id"), ("order_id", "orders", "order_id")],
    )
    db["positions"].create(
        {
            "run_id": str,
            "symbol": str,
            "qty": float,
            "avg_price": float,  # average cost of the open position
            "last_price": float,
            "market_value": float,
            "updated_at": str,
        },
        pk=("run_id", "symbol"),
        foreign_keys=[("run_id", "runs", "run_id")],
    )
    db["equity"].create(
        {"run_id": str, "ts": str, "cash": float, "equity": float, "gross": float},
        pk=("run_id", "ts"),
        not_null={"cash", "equity"},
        foreign_keys=[("run_id", "runs", "run_id")],
    )
    db["jobs"].create(
        {
            "id": int,
            "run_id": str,
            "job": str,
            "fired_at": str,
            "finished_at": str,
            "status": str,  # ok | skipped | failed
            "detail": str,
            "error": str,
        },
        pk="id",
        not_null={"run_id", "job", "fired_at", "status"},
        foreign_keys=[("run_id", "runs", "run_id")],
    )
    db["targets"].create(
        {"run_id": str, "ts": str, "bar_ts": str, "symbol": str, "weight": float, "strategy": str},
        pk=("run_id", "ts", "symbol"),
        foreign_keys=[("run_id", "runs", "run_id")],
    )
    db["orders"].create_index(["run_id", "ts"])
    db["fills"].create_index(["run_id", "ts"])
    db["jobs"].create_index(["run_id", "fired_at"])
    db.create_view(
        "latest_run",
        "select * from runs order by started_at desc, rowid desc limit 1",
    )
    db.create_view(
        "latest_equity",
        """
        select e.run_id, r.mode, r.status, e.ts, e.cash, e.equity, e.gross
        from equity e join runs r using (run_id)
        where e.ts = (select max(ts) from equity where run_id = e.run_id)
        order by r.started_at desc
        """,
    )
    db.create_view(
        "current_positions",
        """
        select p.run_id, p.symbol, p.qty, p.avg_price, p.last_price, p.market_value,
               round(p.market_value / le.equity, 6) as weight, p.updated_at
        from positions p
        join latest_run lr on lr.run_id = p.run_id
        left join latest_equity le on le.run_id = p.run_id
        where p.qty != 0
        order by p.market_value desc
        """,
    )


def _v2_risk(db: Database) -> None:
    """Why the portfolio looks as it does: one row per decision of a risk-managed strategy."""
    db["risk"].create(
        {
            "run_id": str,
            "ts": str,  # decision time
            "bar_ts": str,
            "strategy": str,
            "vol": float,  # annualised forecast vol of the final weights
            "var": float,  # one-day loss fraction
            "cvar": float,
            "var_method": str,
            "confidence": float,
            "scale": float,  # exposure multiplier the limits applied
            "bound": str,  # target_vol | max_var | max_cvar | max_gross | none
            "gross": float,
            "limits": str,  # JSON: the limits in force
            "weights": str,  # JSON: symbol -> final weight
            "diagnostics": str,  # JSON: symbol -> base weight, tilt, garch vol, fallback, exclusion
            "notes": str,  # JSON list
        },
        pk=("run_id", "ts"),
        foreign_keys=[("run_id", "runs", "run_id")],
    )
    db.create_view(
        "latest_risk",
        """
        select r.* from risk r join latest_run lr using (run_id)
        order by r.ts desc limit 1
        """,
    )


def _v3_adjustments(db: Database) -> None:
    """Shares and cash that changed without a trade (splits, dividends): part of the ledger."""
    db["adjustments"].create(
        {
            "id": int,
            "run_id": str,
            "ts": str,
            "symbol": str,
            "reason": str,  # "split 4" | "dividend 0.82"
            "qty_before": float,
            "qty_after": float,
            "avg_price": float,
            "cash_change": float,
        },
        pk="id",
        not_null={"run_id", "ts", "symbol", "reason", "qty_before", "qty_after", "cash_change"},
        foreign_keys=[("run_id", "runs", "run_id")],
    )
    db["adjustments"].create_index(["run_id", "ts"])


def _v6_learning_loop(db: Database) -> None:
    """Forecasts the daemon served, and the models it knows (issue 11)."""
    db["forecasts"].create(
        {
            "run_id": str,
            "ts": str,  # decision time
            "symbol": str,
            "target": str,  # ret_1 | ret_5 | ret_20 | rv_20
            "levels": str,  # JSON list of quantile levels
            "quantiles": str,  # JSON list of values at those levels (label units)
            "model": str,  # the version that made it
        },
        pk=("run_id", "ts", "symbol", "target"),
        foreign_keys=[("run_id", "runs", "run_id")],
    )
    db.create_view(
        "latest_forecasts",
        """
        select f.* from forecasts f join latest_run lr using (run_id)
        where f.ts = (select max(ts) from forecasts where run_id = f.run_id)
        order by f.symbol, f.target
        """,
    )
    db["models"].create(
        {
            "version": str,  # registry folder name
            "family": str,
            "path": str,
            "status": str,  # candidate | active | rejected | retired
            "metrics": str,  # JSON: validation and holdout losses
            "reason": str,  # why rejected / how activated
            "created_at": str,
            "activated_at": str,
            "updated_at": str,
        },
        pk="version",
        not_null={"family", "path", "status"},
    )


def _v7_sentiment(db: Database) -> None:
    """The latest daily sentiment features per symbol and model, for a person to read
    (the point-in-time history is the lake's ``sentiment_daily`` dataset)."""
    db["sentiment_latest"].create(
        {
            "symbol": str,
            "model": str,  # which scorer: never compare rows of different models
            "day": str,  # UTC day of the features
            "available_at": str,  # the newest text included
            "mean_score": float,
            "count": int,
            "share_positive": float,
            "share_negative": float,
            "decayed_score": float,
            "updated_at": str,
        },
        pk=("symbol", "model"),
        not_null={"day", "available_at", "mean_score", "count"},
    )


def _v8_sentiment_view(db: Database) -> None:
    """``sentiment``: the latest day per symbol and scoring model, for ``sqlite3``. Scores
    rounded to 3 places; ``positive`` / ``negative`` are the shares of that day's texts;
    one row per model (never averaged across models)."""
    db.execute(
        """
        create view sentiment as
        select symbol, day, round(mean_score, 3) as score, count,
               round(share_positive, 3) as positive, round(share_negative, 3) as negative,
               round(decayed_score, 3) as decayed, model, available_at, updated_at
        from sentiment_latest
        order by symbol, model
        """
    )


MIGRATIONS: tuple[Callable[[Database], None], ...] = (
    _v1_core, _v2_risk, _v3_adjustments, _v6_learning_loop, _v7_sentiment, _v8_sentiment_view,
)  # fmt: skip
SCHEMA_VERSION = len(MIGRATIONS)
