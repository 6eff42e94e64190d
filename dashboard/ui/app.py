"""The Streamlit app: ``streamlit run dashboard/ui/app.py -- --db F [--run ID] [--refresh S]``.

``tradingd dashboard`` starts it (through ``python -m dashboard serve``). The sidebar
picks the run and the page; the page body re-reads the database every ``--refresh``
seconds (a Streamlit fragment), each time in one short read-only transaction.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import streamlit as st

from dashboard.data import RunData, list_runs, load_run, open_store
from dashboard.insights import models_page
from dashboard.pages import jobs_page, orders_page, overview_page, positions_page, risk_page
from dashboard.sentiment import sentiment_page
from dashboard.views import Performance, performance
from state.store import SchemaError

PAGES: dict[str, Callable[[RunData, Performance], None]] = {
    "Overview": overview_page,
    "Positions": positions_page,
    "Risk": risk_page,
    "Orders and fills": orders_page,
    "Jobs and health": jobs_page,
    "Models": models_page,
    "Sentiment": sentiment_page,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dashboard/ui/app.py")
    parser.add_argument("--db", required=True)
    parser.add_argument("--run", default=None)
    parser.add_argument("--refresh", type=float, default=10.0)
    return parser.parse_args(argv)


def _runs(db: str) -> list[dict[str, object]] | None:
    try:
        store = open_store(db)
    except FileNotFoundError:
        st.error(f"No database at {db} (has the daemon run yet?)")
        return None
    except SchemaError as exc:
        st.error(str(exc))
        return None
    try:
        return list_runs(store)
    finally:
        store.close()


def main(argv: list[str]) -> None:
    st.set_page_config(page_title="tradingd", layout="wide")
    args = parse_args(argv)
    st.sidebar.title("tradingd")
    runs = _runs(args.db)
    if runs is None:
        return
    if not runs:
        st.info("The database has no runs yet.")
        return
    ids = [str(r["run_id"]) for r in runs]
    labels = {str(r["run_id"]): f"{r['run_id']} ({r['mode']}, {r['status']})" for r in runs}
    if args.run is not None and args.run not in ids:
        st.sidebar.warning(f"no run {args.run!r}; showing the latest")
    run_id = st.sidebar.selectbox(
        "Run", ids, index=ids.index(args.run) if args.run in ids else 0, format_func=labels.get, key="run"
    )
    page = st.sidebar.radio("Page", list(PAGES), key="page")
    st.sidebar.caption(f"{args.db}; refreshes every {args.refresh:g} s")

    @st.fragment(run_every=args.refresh)
    def body() -> None:
        store = open_store(args.db)
        try:
            run = load_run(store, run_id)
        finally:
            store.close()
        st.header(page)
        st.caption(f"run {run_id} · {run.run['mode']} · {run.run['status']} · strategy {run.run['strategy']}")
        PAGES[page](run, performance(run))

    body()


if __name__ == "__main__":
    main(sys.argv[1:])
