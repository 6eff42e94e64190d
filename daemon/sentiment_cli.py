"""``tradingd sentiment score | backfill | top``: the sentiment service by hand.

- ``score TEXT...``: scores texts with the configured model (or the VADER fallback) and
  says which one it used;
- ``backfill --start --end``: scores the lake's stored texts of that window with the
  configured model, in chunks, with a progress bar. Texts this model already scored are
  skipped, so an interrupted backfill resumes where it stopped and a repeated one changes
  nothing;
- ``top [--symbol S] [--days N]``: the most positive and most negative recent texts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from daemon.config import Config, InputError

__all__ = ["add_sentiment_parser", "cmd_sentiment"]

CHUNK = 256  # texts scored and stored per step of a backfill


def add_sentiment_parser(sub: Any, common: Callable[..., None], as_date: Callable[[str], date]) -> None:
    parser = sub.add_parser("sentiment", help="score texts, backfill the lake's texts, show the extremes")
    commands = parser.add_subparsers(dest="sentiment_command", required=True, metavar="SUBCOMMAND")
    score = commands.add_parser("score", help="score texts given on the command line; says which model")
    score.add_argument("texts", nargs="+", metavar="TEXT")
    score.add_argument("--json", action="store_true")
    common(score, db=False)
    backfill = commands.add_parser("backfill", help="(re-)score the lake's stored texts of a window")
    backfill.add_argument("--start", type=as_date, required=True, help="first day (by the texts' ts)")
    backfill.add_argument("--end", type=as_date, required=True, help="last day, inclusive")
    backfill.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    common(backfill)
    top = commands.add_parser("top", help="the most positive and most negative recent texts")
    top.add_argument("--symbol", help="only texts linked to this symbol")
    top.add_argument("--days", type=int, default=7, help="look back this many days (default 7)")
    top.add_argument("--limit", type=int, default=5, help="texts per side (default 5)")
    top.add_argument("--model", help="whose scores (default: the model of the newest score)")
    top.add_argument("--json", action="store_true")
    common(top, db=False)


def cmd_sentiment(args: argparse.Namespace, config: Config) -> int:
    run = {"score": _score, "backfill": _backfill, "top": _top}[args.sentiment_command]
    return run(args, config)


def _universe(config: Config) -> tuple[str, ...]:
    # The configured symbols, else every symbol with aliases (the bundled universe's).
    return config.market.symbols or tuple(config.sentiment.alias_table())


def _onnx_dir(config: Config) -> str:
    return str(Path(config.run.data_dir) / "sentiment" / "onnx")


def _score(args: argparse.Namespace, config: Config) -> int:
    from models.sentiment import EntityLinker, clean_text, open_scorer

    texts = [clean_text(os.fsencode(t)) for t in args.texts]  # bad bytes in argv -> U+FFFD
    scorer, why = open_scorer(config.sentiment, onnx_dir=_onnx_dir(config))
    linker = EntityLinker(_universe(config), config.sentiment.alias_table(), config.sentiment.english_word_tickers)
    present = [t for t in texts if t]
    scores = scorer.score(present, max_length=config.sentiment.body_max_length)
    results, k = [], 0
    for text in texts:
        entry: dict[str, Any] = {"text": text, "symbols": list(linker.link(text))}
        if text:
            p = scores.probabilities[k]
            entry |= {"label": scores.labels[k], "score": round(float(scores.score[k]), 4),
                      "positive": round(float(p[0]), 4), "negative": round(float(p[1]), 4),
                      "neutral": round(float(p[2]), 4)}  # fmt: skip
            k += 1
        else:
            entry |= {"label": None, "score": None, "skipped": "empty text"}
        results.append(entry)
    if args.json:
        print(json.dumps({"model": scorer.name, "fallback_reason": why, "texts": results}, ensure_ascii=False, indent=2))
        return 0
    print(f"model: {scorer.name}" + (f" (fallback: {why})" if why else ""))
    for entry in results:
        if entry["label"] is None:
            print(f"       -  skipped  {entry['text']!r}: empty text")
            continue
        symbols = f" [{' '.join(entry['symbols'])}]" if entry["symbols"] else ""
        print(f"{entry['score']:+8.3f}  {entry['label']:<8} {entry['text'][:100]}{symbols}")
    return 0


def _service(config: Config, db: str | Path | None):  # noqa: ANN202
    from daemon.sentiment import SentimentService, SentimentStore
    from state.lake import Lake

    store = SentimentStore(Lake(Path(config.run.data_dir) / "lake"), db, config.sentiment.half_life_days)
    return SentimentService(config.sentiment, universe=_universe(config), store=store, onnx_dir=_onnx_dir(config))


def _backfill(args: argparse.Namespace, config: Config) -> int:
    from tqdm import tqdm

    if args.end < args.start:
        raise InputError("--end is before --start")
    start = datetime.combine(args.start, time.min, UTC)
    end = datetime.combine(args.end, time.max, UTC)
    now = datetime.now(UTC)
    service = _service(config, args.db or config.run.db_path)
    texts = service.store.lake.read("texts", start=start, end=end, as_of=now)
    texts = texts.sort_values("available_at", kind="stable").reset_index(drop=True)
    model = service.scorer.name
    scored = duplicates = skipped = 0
    show = not args.no_progress and sys.stderr.isatty()
    with tqdm(total=len(texts), unit="text", disable=not show, desc=f"scoring with {model}") as bar:
        for first in range(0, len(texts), CHUNK):
            chunk = texts.iloc[first : first + CHUNK]
            result = service.process(chunk, as_of=now, now=now, since=start - timedelta(days=1))
            scored, duplicates, skipped = (
                scored + len(result.rows), duplicates + result.duplicates, skipped + result.skipped
            )  # fmt: skip
            bar.update(len(chunk))
    print(f"backfill {args.start}..{args.end}: {len(texts)} texts, {scored} scored with {model}, "
          f"{duplicates} already scored or duplicates, {skipped} empty")  # fmt: skip
    return 0


def _top(args: argparse.Namespace, config: Config) -> int:
    from daemon.sentiment import top_texts
    from state.lake import Lake

    if args.days < 1 or args.limit < 1:
        raise InputError("--days and --limit must be >= 1")
    now = pd.Timestamp.now(tz="UTC")
    top = top_texts(Lake(Path(config.run.data_dir) / "lake"), now - pd.Timedelta(days=args.days), as_of=now,
                    symbol=args.symbol, model=args.model, limit=args.limit)
    model = top.model
    if top.positive.empty:
        print(f"no scored texts in the last {args.days} days" + (f" for {args.symbol}" if args.symbol else ""))
        return 0
    sides = {"most positive": top.positive, "most negative": top.negative}
    if args.json:
        columns = ["ts", "source", "channel", "id", "symbols", "score", "label", "snippet"]
        out = {name: json.loads(side[columns].to_json(orient="records", date_format="iso")) for name, side in sides.items()}
        print(json.dumps({"model": model, **out}, ensure_ascii=False, indent=2))
        return 0
    print(f"model: {model}; last {args.days} days" + (f"; {args.symbol}" if args.symbol else ""))
    for name, side in sides.items():
        print(f"\n{name}:")
        for r in side.itertuples(index=False):
            print(f"  {r.score:+.3f}  {r.ts:%Y-%m-%d %H:%M}  {r.source:<8} [{r.symbols}]  {r.snippet[:90]}")
    return 0
