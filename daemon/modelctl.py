"""`tradingd models list | show VERSION | activate VERSION [--force] | rollback`.

A person inspects and overrides the ``models`` table. A manual activation runs the same
checks as the daemon's swap gate (``models.validation``) on the bundled prices as of the
last recorded event (or ``--as-of``), unless ``--force``; either way it is recorded with
its reason. A running daemon follows the table at its next `infer` (and still refuses a
checkpoint whose files fail the integrity checks).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from daemon.config import Config, InputError
from state.models_table import ModelsTable
from state.store import Store

__all__ = ["add_parser", "run_models_command"]


def add_parser(sub: Any, common: Any) -> None:  # noqa: ANN401 -- argparse's private subparser type
    models = sub.add_parser("models", help="list, inspect, activate or roll back forecasting models")
    verbs = models.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, helptext in (
        ("list", "every known version with its status"),
        ("show", "one version: status, metrics, reason, manifest summary"),
        ("activate", "make VERSION serve (checked first unless --force)"),
        ("rollback", "reject the active version and restore the previous one"),
    ):
        verb = verbs.add_parser(name, help=helptext)
        common(verb)
        verb.add_argument("--json", action="store_true")
        if name in ("show", "activate"):
            verb.add_argument("version", help="registry folder name (see `tradingd models list`)")
        if name == "activate":
            verb.add_argument("--force", action="store_true", help="skip the checks (recorded as forced)")
            verb.add_argument("--as-of", type=date.fromisoformat, help="holdout / smoke data up to this day")


def _manifest(path: str) -> dict[str, Any]:
    try:
        return json.loads((Path(path) / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def _show(table: ModelsTable, version: str) -> dict[str, Any]:
    row = table.get(version)
    if row is None:
        raise InputError(f"unknown model version {version!r} (see `tradingd models list`)")
    m = _manifest(row["path"])
    row["manifest"] = {k: m.get(k) for k in ("model_class", "hyperparameters", "dims", "training_window",
                                              "validation", "schema_hash", "weights_sha256", "created_at")}
    return row


def _register(table: ModelsTable, config: Config, version: str) -> dict[str, Any]:
    """The table's row for `version`, adding a registry folder the table has not seen."""
    row = table.get(version)
    if row is not None:
        return row
    path = Path(config.models.registry_dir) / version
    if not (path / "manifest.json").exists():
        raise InputError(f"unknown model version {version!r}: not in the models table nor in {path.parent}")
    m = _manifest(str(path))
    table.add_candidate(version, str(m.get("hyperparameters", {}).get("family", "unknown")), str(path),
                        str(m.get("created_at", "")), datetime.now(UTC))
    return table.get(version)  # type: ignore[return-value]


def _as_of(store: Store, given: date | None) -> date | None:
    if given is not None:
        return given
    (last,) = store.conn.execute("select max(last_event_at) from runs").fetchone()
    return datetime.fromisoformat(last).date() if last else None


def _check(config: Config, store: Store, table: ModelsTable, path: Path, as_of: date | None) -> dict[str, float]:
    """The swap gate's five checks against the active model; raises CheckpointRejected."""
    import pandas as pd
    import torch

    from daemon.feeds.bundled import BundledPrices
    from models.data import load_macro
    from models.registry import CheckpointRejected
    from models.serving_spec import ServingSpec
    from models.validation import HoldoutData, load_for_serving, validate

    torch.set_num_threads(config.models.serve.threads)
    market = config.market
    if market.source == "yfinance":
        raise InputError("models activate: the checks replay bundled prices; with market.source = 'yfinance' "
                         "use --force (the daemon still verifies the files before it serves)")
    feed = BundledPrices(market.source, timezone=market.timezone, close_time=market.close_time, symbols=market.symbols)
    stop = feed.index_of(as_of, after=True) if as_of else len(feed.sessions)
    bars = feed.history(0, stop)
    prices = pd.DataFrame([b.close for b in bars], index=feed.sessions[:stop], columns=list(feed.symbols))
    spec = ServingSpec.from_config(config.models)
    data = HoldoutData.build(spec, prices, prices.index[-1], load_macro() if spec.use_macro else None)
    champion = None
    active = table.active()
    if active is not None:
        try:
            champion = load_for_serving(Path(table.get(active)["path"]), spec, data.panel)
        except CheckpointRejected:
            champion = None  # an unusable champion is no bar to clear
    _, metrics = validate(path, spec, data, champion, config.models.swap)
    return metrics


def _activate(config: Config, store: Store, table: ModelsTable, args: argparse.Namespace) -> dict[str, Any]:
    from models.registry import CheckpointRejected

    row = _register(table, config, args.version)
    metrics: dict[str, float] = {}
    if not args.force:
        try:
            metrics = _check(config, store, table, Path(row["path"]), _as_of(store, args.as_of))
        except CheckpointRejected as exc:
            table.reject(args.version, f"manual activation refused: {exc.reason}", {}, datetime.now(UTC))
            raise RuntimeError(f"{args.version} rejected: {exc.reason}") from None
    previous = table.activate(args.version, "operator --force" if args.force else "operator", metrics,
                              datetime.now(UTC))
    return {"activated": args.version, "previous": previous, "forced": bool(args.force), "metrics": metrics}


def _render(verb: str, result: Any) -> str:
    if verb == "list":
        lines = [f"{'version':44} {'family':7} {'status':9} {'activated_at':26} reason"]
        for r in result:
            lines.append(f"{r['version']:44} {r['family']:7} {r['status']:9} {r['activated_at'] or '-':26} "
                         f"{r['reason'] or ''}")
        return "\n".join(lines) if result else "no models yet (the registry is empty or the daemon has not looked)"
    if verb == "rollback":
        return f"rolled back: {result['rejected']} -> {result['active']} (the daemon swaps at its next infer)"
    if verb == "activate":
        return f"activated {result['activated']} (was {result['previous'] or 'none'}); the daemon swaps at its next infer"
    return "\n".join(f"{k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in result.items())


def run_models_command(config: Config, db: Path, args: argparse.Namespace) -> int:
    store = Store.open(db)
    try:
        table = ModelsTable(store)
        if args.verb == "list":
            result: Any = table.list()
        elif args.verb == "show":
            result = _show(table, args.version)
        elif args.verb == "activate":
            result = _activate(config, store, table, args)
        else:
            try:
                old, restored = table.rollback(datetime.now(UTC))
            except LookupError as exc:
                raise RuntimeError(f"rollback: {exc}") from None
            result = {"rejected": old, "active": restored}
    finally:
        store.close()
    print(json.dumps(result, indent=2, default=str) if args.json else _render(args.verb, result))
    return 0
