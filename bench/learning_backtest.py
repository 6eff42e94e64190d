"""Issue 11 bench: the shipped config as a backtest with a small TFT retrained quarterly,
once per ``risk.vol_source`` (garch, model, blend) and once without any model.

Everything is ``config.toml``'s defaults (monthly HRP x tilt, GARCH, 15 % vol target, VaR)
except what makes the learning loop fit a 2-core machine:

- the model: a TFT with hidden 16, 2 heads, 1 LSTM layer (config.toml's is hidden 64),
  trained ``--epochs`` (1) epoch of at most ``--steps`` (30) batches of 256 windows at
  ``--lr`` 3e-3, with 5 % of the window held for validation (one epoch: it only reports);
  on 2 shared cores a retrain then takes about a minute;
- ``[jobs.retrain]`` on, quarterly (``0 18 1 1,4,7,10 *``: 18:00 on the 1st of each
  quarter), in-process (``models.backtest_retrain = "inprocess"``), 10-year windows;
- ``[jobs.infer]`` only on weekdays 1-5 of each month (``40 16 1-5 * mon-fri``): the
  monthly rebalance reads the forecast only on the month's first trading day (always one
  of those days), so a daily infer would cost 4x the time for forecasts nobody reads.

The retrains are shared: every model run uses one registry, and ``BacktestRetrainer``'s
cache is keyed by (``models_hash`` of ``[models]`` only, training-window end), so the runs
after the first reuse its checkpoints (``[risk]`` is not part of the key).

Per run: CAGR, vol, Sharpe, max drawdown, turnover, costs (``daemon.report``); for the vol
target: realised vol of the whole run, the rolling 63-day realised vol (annualised) at
each month end, and the hit rate = share of those month ends with the 63-day realised vol
within +-20 % of ``risk.target_vol`` (0.12..0.18 for 15 %); the ex-ante forecast vol of
each decision against the realised vol of the next 21 trading days (median ratio); and
the number of retrains, swaps, rejections and per-asset fallbacks to GARCH.

Usage: python bench/learning_backtest.py [--start 2005-01-03 --end 2022-12-28]
       [--runs none,garch,model,blend] [--work /tmp/learning_backtest]
Each run leaves <work>/<run>/result.json; the table at the end covers every run found in
<work>, so the runs may go in parallel processes sharing one --work (and its registry).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SMALL_TFT = {"family": "tft", "hidden_size": 16, "num_heads": 2, "lstm_layers": 1, "dropout": 0.1}
QUARTERLY = "0 18 1 1,4,7,10 *"
MONTH_START = "40 16 1-5 * mon-fri"
HIT_BAND = 0.20  # realised within +-20 % of the target counts as a hit
ROLL = 63  # trading days of the rolling realised vol


def config(work: Path, run: str, args: argparse.Namespace):
    from daemon.config import load_config

    tables: dict = {
        "run": {"data_dir": str(work / run)},
        "market": {"replay_start": args.start, "replay_end": args.end},
        "models": {
            "registry_dir": str(args.registry or work / "registry"),
            "run_dir": str(work / "runs"),
            "backtest_retrain": "inprocess",
            "model": SMALL_TFT,
            "data": {"val_fraction": args.val_fraction},
            "train": {"epochs": args.epochs, "max_steps_per_epoch": args.steps, "batch_size": 256,
                      "lr": args.lr, "device": "cpu"},
        },
    }
    if run == "none":
        tables["jobs"] = {"infer": {"enabled": False}, "retrain": {"enabled": False}}
    else:
        tables["jobs"] = {"infer": {"cron": MONTH_START}, "retrain": {"cron": QUARTERLY, "enabled": True}}
        tables["risk"] = {"vol_source": run, "vol_blend": args.blend}
    return load_config(args.config, overrides=tables)


def replay(cfg, db: Path) -> tuple[str, dict[str, int], float]:
    from core.events import CheckpointPublished, ModelRejected, ModelSwapped
    from daemon.app import build_app
    from daemon.backtest import run_backtest

    app = build_app(cfg, mode="backtest", db_path=db)
    counts: Counter[str] = Counter()
    for kind in (CheckpointPublished, ModelSwapped, ModelRejected):
        app.bus.subscribe(kind, lambda e: counts.update([type(e).__name__]), name=f"bench:{kind.__name__}")
    t0 = time.perf_counter()
    asyncio.run(run_backtest(app, progress=False))
    wall = time.perf_counter() - t0
    run_id = app.run_id
    app.close("completed")
    return run_id, dict(counts), wall


def vol_target_stats(equity: pd.Series, decisions: pd.DataFrame, target: float) -> dict[str, float]:
    """Realised vs target vol, the hit rate, and ex-ante vs next-month realised vol."""
    daily = equity.pct_change().dropna()
    daily.index = daily.index.tz_convert(None)
    rolling = daily.rolling(ROLL).std(ddof=1) * np.sqrt(252)
    month_end = rolling.groupby(rolling.index.to_period("M")).last().dropna()
    hit = ((month_end - target).abs() <= HIT_BAND * target).mean() if len(month_end) else float("nan")
    ratios = []
    for ts, ex_ante in decisions["vol"].items():
        after = daily[daily.index > ts.tz_convert(None)].iloc[:21]
        if len(after) == 21 and ex_ante > 0:
            ratios.append(float(after.std(ddof=1) * np.sqrt(252) / ex_ante))
    return {
        "realised_vol": float(daily.std(ddof=1) * np.sqrt(252)),
        "rolling63_median": float(month_end.median()),
        "hit_rate": float(hit),
        "over_rate": float((month_end > (1 + HIT_BAND) * target).mean()),
        "under_rate": float((month_end < (1 - HIT_BAND) * target).mean()),
        "exante_median": float(decisions["vol"].median()),
        "realised_over_exante": float(np.median(ratios)) if ratios else float("nan"),
    }


def vol_accuracy(risk: pd.DataFrame, horizon: int = 20) -> dict[str, float]:
    """Per-asset vol forecasts of each decision (GARCH's and, when recorded, the model's
    P50) against the realised vol of the next `horizon` trading days, sqrt(mean r^2) of
    daily log returns (the rv_20 label): mean |log(forecast / realised)| and RMSE of the
    annualised vols, over the (decision, asset) pairs where both forecasts exist."""
    from skfolio.datasets import load_sp500_dataset

    logret = np.log(load_sp500_dataset()).diff()
    pairs: list[tuple[float, float, float]] = []
    for ts, diag in zip(risk["ts"], risk["diagnostics"], strict=True):
        day = pd.Timestamp(ts).tz_convert("America/New_York").tz_localize(None).normalize()
        after = logret[logret.index > day].iloc[:horizon]
        if len(after) < horizon:
            continue
        realised = np.sqrt((after**2).mean()) * np.sqrt(252)
        for symbol, d in json.loads(diag).items():
            g, m = d.get("garch_vol"), d.get("model_vol")
            if symbol in realised and g and m and np.isfinite([g, m, realised[symbol]]).all():
                pairs.append((g, m, float(realised[symbol])))
    if not pairs:
        return {}
    g, m, r = np.array(pairs).T
    return {"pairs": len(pairs),
            "garch_mal": float(np.mean(np.abs(np.log(g / r)))), "model_mal": float(np.mean(np.abs(np.log(m / r)))),
            "garch_rmse": float(np.sqrt(np.mean((g - r) ** 2))), "model_rmse": float(np.sqrt(np.mean((m - r) ** 2)))}


def measure(db: Path, run_id: str, target: float) -> dict[str, object]:
    from daemon.report import summarize
    from state.store import Store

    store = Store.open(db)
    try:
        s = summarize(store, run_id)
        eq = pd.DataFrame(store.rows("select ts, equity from equity where run_id = ? order by ts", (run_id,)))
        risk = pd.DataFrame(store.rows("select ts, vol, diagnostics from risk where run_id = ? order by ts", (run_id,)))
    finally:
        store.close()
    equity = pd.Series(eq["equity"].to_numpy(float), index=pd.to_datetime(eq["ts"], utc=True))
    equity = equity.groupby(equity.index.normalize()).last()
    decisions = pd.DataFrame({"vol": risk["vol"].to_numpy(float)}, index=pd.to_datetime(risk["ts"], utc=True))
    sources: Counter[str] = Counter()
    for diag in risk["diagnostics"]:
        sources.update(d.get("vol_source") or "-" for d in json.loads(diag).values())
    return {
        "start": s.start, "end": s.end, "cagr": s.cagr, "vol": s.ann_volatility, "sharpe": s.sharpe,
        "max_drawdown": s.max_drawdown, "turnover": s.turnover_per_year, "costs": s.costs,
        "final_equity": s.final_equity, "decisions": len(risk), "vol_sources": dict(sources),
        **vol_target_stats(equity, decisions, target),
        "vol_accuracy": vol_accuracy(risk),
    }


def table(results: dict[str, dict]) -> str:
    head = ("| run | CAGR | vol | Sharpe | max DD | turnover/yr | costs | target | realised 63d (median) "
            "| hit rate (+-20%) | over / under | ex-ante (median) | realised/ex-ante | retrains | swaps "
            "| rejected | wall |\n" + "|---" * 17 + "|")
    rows = [head]
    for name, r in results.items():
        rows.append(
            f"| {name} | {r['cagr']:.2%} | {r['vol']:.2%} | {r['sharpe']:.2f} | {r['max_drawdown']:.2%} "
            f"| {r['turnover']:.2f} | {r['costs']:,.0f} | {r['target']:.0%} | {r['rolling63_median']:.2%} "
            f"| {r['hit_rate']:.0%} | {r['over_rate']:.0%} / {r['under_rate']:.0%} | {r['exante_median']:.2%} "
            f"| {r['realised_over_exante']:.2f} | {r['retrains']} | {r['swaps']} | {r['rejected']} "
            f"| {r['wall_s'] / 60:.1f} min |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", default="2005-01-03")
    parser.add_argument("--end", default="2022-12-28")
    parser.add_argument("--runs", default="none,garch,model,blend")
    parser.add_argument("--work", type=Path, default=Path("/tmp/learning_backtest"))
    parser.add_argument("--config", default=str(ROOT / "config.toml"))
    parser.add_argument("--registry", type=Path, default=None,
                        help="checkpoint registry (default <work>/registry); share it to share retrains")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30, help="max batches of 256 per epoch")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--val-fraction", type=float, default=0.05,
                        help="models.data.val_fraction: with one epoch the validation only reports")
    parser.add_argument("--blend", type=float, default=0.5, help="risk.vol_blend (model weight)")
    parser.add_argument("--rescore", action="store_true",
                        help="no replay: measure the runs already in --work again (their counts kept)")
    args = parser.parse_args()
    date.fromisoformat(args.start), date.fromisoformat(args.end)
    args.work.mkdir(parents=True, exist_ok=True)
    for run in args.runs.split(",") if not args.rescore else ():
        cfg = config(args.work, run, args)
        db = args.work / run / "tradingd.db"
        db.unlink(missing_ok=True)
        db.parent.mkdir(parents=True, exist_ok=True)
        print(f"[{time.strftime('%H:%M:%S')}] {run}: {args.start}..{args.end}", flush=True)
        run_id, counts, wall = replay(cfg, db)
        r = measure(db, run_id, cfg.risk.target_vol)
        r |= {"target": cfg.risk.target_vol, "retrains": counts.get("CheckpointPublished", 0),
              "swaps": counts.get("ModelSwapped", 0), "rejected": counts.get("ModelRejected", 0), "wall_s": wall}
        (args.work / run / "result.json").write_text(json.dumps(r, indent=1, default=str))
        print(json.dumps(r, default=str), flush=True)
    # Every run finished in this work folder so far (runs may go in parallel processes).
    found = {run: args.work / run / "result.json" for run in ("none", "garch", "model", "blend")}
    results = {run: json.loads(p.read_text()) for run, p in found.items() if p.exists()}
    if args.rescore:
        for run, r in results.items():
            r |= rescore(args.work / run / "tradingd.db", r["target"])
            found[run].write_text(json.dumps(r, indent=1, default=str))
    print(table(results), flush=True)
    print(accuracy_table(results), flush=True)


def rescore(db: Path, target: float) -> dict[str, object]:
    from state.store import Store

    store = Store.open(db)
    try:
        (row,) = store.rows("select run_id from runs")
    finally:
        store.close()
    return measure(db, row["run_id"], target)


def accuracy_table(results: dict[str, dict]) -> str:
    rows = ["| run | (decision, asset) pairs | GARCH mean abs log error | model mean abs log error "
            "| GARCH RMSE (ann.) | model RMSE (ann.) |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        a = r.get("vol_accuracy") or {}
        if a:
            rows.append(f"| {name} | {a['pairs']} | {a['garch_mal']:.3f} | {a['model_mal']:.3f} "
                        f"| {a['garch_rmse']:.2%} | {a['model_rmse']:.2%} |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
