"""A run's model versions and their events on its timeline (frames in, frames out).

Three records tell the story, none of them alone:

- the run's ``forecasts`` (run clock): which version served each decision; the first
  forecast of a version is when it began serving *in this run*;
- the run's ``retrain`` jobs (run clock): the versions its retrains published (the job's
  detail names the registry folder); its ``infer`` jobs: the swap gate's refusals
  (``rejected VERSION: reason``, recorded by backtests too);
- the ``models`` table (wall clock, one per database): status, metrics, the reason of a
  rejection. A backtest only reads it, so a backtest's own versions are not in it.

Statuses of versions the table does not know come from the run: ``serving`` (the
version of its latest forecast), ``replaced`` (served earlier), ``not served``
(published by a retrain of the run but never forecast: published after the last
decision), ``rejected`` (refused by the run's swap gate, with its reason).
"""

from __future__ import annotations

import re

import pandas as pd

from dashboard.data import RunData

__all__ = ["VERSION", "gate_rejections", "model_events", "model_versions", "published_versions"]

# A registry version: `<UTC yyyymmddThhmmssffffff>Z-<family>-<sha8>` (models/registry.py).
VERSION = re.compile(r"\b\d{8}T\d{12}Z-[A-Za-z0-9_]+-[0-9a-f]{8}\b")
# One swap-gate refusal in an `infer` job's detail (daemon.serving; parts joined by "; ").
_REJECTED = re.compile(rf"rejected ({VERSION.pattern}): (.+)")
COLUMNS = ["version", "status", "family", "published", "first_forecast", "last_forecast", "decisions", "reason",
           "metrics", "created_at", "activated_at"]
COLORS = {"published": "#7f7f7f", "swap": "#2ca02c", "rejected": "#d62728"}


def published_versions(jobs: pd.DataFrame) -> pd.DataFrame:
    """(version, published): the versions the run's successful ``retrain`` jobs name, at
    the time the job finished (run clock: a live retrain publishes when its trainer exits)."""
    if jobs.empty:
        return pd.DataFrame(columns=["version", "published"])
    done = jobs[(jobs["job"] == "retrain") & (jobs["status"] == "ok")]
    when = done["finished_at"].fillna(done["fired_at"])
    rows = [{"version": v, "published": at} for at, detail in zip(when, done["detail"], strict=True)
            for v in VERSION.findall(detail or "")]
    return pd.DataFrame(rows, columns=["version", "published"]).drop_duplicates("version")


def gate_rejections(jobs: pd.DataFrame) -> pd.DataFrame:
    """(version, rejected_at, reason): the versions the run's swap gate refused, from its
    ``infer`` jobs (run clock), first refusal per version."""
    columns = ["version", "rejected_at", "gate_reason"]
    if jobs.empty:
        return pd.DataFrame(columns=columns)
    infer = jobs[jobs["job"] == "infer"]
    rows = [(m[1], at, m[2]) for at, detail in zip(infer["fired_at"], infer["detail"], strict=True)
            for part in (detail or "").split("; ") if (m := _REJECTED.fullmatch(part))]
    return pd.DataFrame(rows, columns=columns).drop_duplicates("version")


def _served(forecasts: pd.DataFrame | None) -> pd.DataFrame:
    """(version, first_forecast, last_forecast, decisions) from the run's forecasts."""
    if forecasts is None or forecasts.empty or "model" not in forecasts:
        return pd.DataFrame(columns=["version", "first_forecast", "last_forecast", "decisions"])
    served = forecasts.dropna(subset=["model"]).groupby("model")["ts"].agg(["min", "max", "nunique"])
    served.columns = ["first_forecast", "last_forecast", "decisions"]
    return served.rename_axis("version").reset_index().sort_values("first_forecast")


def model_versions(run: RunData) -> pd.DataFrame | None:
    """One row per version this run published or served, or the ``models`` table knows
    (``COLUMNS``), oldest first; ``None`` when there is none."""
    served, published, refused = _served(run.forecasts), published_versions(run.jobs), gate_rejections(run.jobs)
    table = run.models if run.models is not None else pd.DataFrame(columns=["version"])
    versions = list(dict.fromkeys([*table["version"], *published["version"], *served["version"]]))
    if not versions:
        return None
    frame = (
        pd.DataFrame({"version": versions})
        .merge(table, on="version", how="left")
        .merge(published, on="version", how="left")
        .merge(served, on="version", how="left")
        .merge(refused[["version", "gate_reason"]], on="version", how="left")
    )
    latest = served.sort_values("last_forecast")["version"].iloc[-1] if len(served) else None
    derived = pd.Series(
        ["serving" if v == latest else "replaced" if pd.notna(first) else "rejected" if pd.notna(why) else "not served"
         for v, first, why in zip(frame["version"], frame["first_forecast"], frame["gate_reason"], strict=True)],
        index=frame.index,
    )
    frame["status"] = frame["status"].fillna(derived) if "status" in frame else derived
    gate = frame.pop("gate_reason")
    frame["reason"] = frame["reason"].fillna(gate) if "reason" in frame else gate
    family = frame["version"].str.split("-").str[1]
    frame["family"] = frame["family"].fillna(family) if "family" in frame else family
    frame["decisions"] = frame["decisions"].fillna(0).astype(int)
    order = frame["published"].combine_first(frame["first_forecast"])
    if "created_at" in frame:
        order = order.combine_first(frame["created_at"])
    frame = frame.assign(_order=order).sort_values(["_order", "version"], na_position="last").drop(columns="_order")
    return frame.reindex(columns=COLUMNS + [c for c in frame.columns if c not in COLUMNS and c != "path"])


def model_events(run: RunData) -> pd.DataFrame | None:
    """Publications, swaps and the swap gate's refusals (run clock), and the ``models``
    table's other rejections within the run's marks, as (ts, label, color) rows for the
    equity timeline; ``None`` when none."""
    rows = [{"ts": p.published, "label": f"published {p.version}", "color": COLORS["published"]}
            for p in published_versions(run.jobs).itertuples(index=False)]
    served = _served(run.forecasts)
    previous = None
    for s in served.itertuples(index=False):
        rows.append({"ts": s.first_forecast, "label": f"serving {s.version}" + (f" (was {previous})" if previous else ""),
                     "color": COLORS["swap"]})
        previous = s.version
    refused = gate_rejections(run.jobs)
    rows += [{"ts": r.rejected_at, "label": f"rejected {r.version}: {r.gate_reason}", "color": COLORS["rejected"]}
             for r in refused.itertuples(index=False)]
    if run.models is not None and len(run.equity) and "status" in run.models:
        first, last = run.equity.index[0], run.equity.index[-1]
        when = "updated_at" if "updated_at" in run.models else "created_at"
        rejected = run.models[(run.models["status"] == "rejected") & run.models[when].between(first, last)
                              & ~run.models["version"].isin(refused["version"])]
        rows += [{"ts": r[when], "label": f"rejected {r['version']}: {r.get('reason') or ''}".rstrip(": "),
                  "color": COLORS["rejected"]} for r in rejected.to_dict("records")]
    return pd.DataFrame(rows).sort_values("ts", kind="stable").reset_index(drop=True) if rows else None
