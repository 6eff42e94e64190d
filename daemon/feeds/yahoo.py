"""Daily bars, splits and dividends from Yahoo Finance via yfinance (live prices).

yfinance is synchronous, so each download runs in a thread behind the source's Guard.
Yahoo's OHLC and dividends are split-adjusted back from today; ``parse_history`` undoes
that with the splits in the downloaded window (which always runs to today), so the lake
stores raw prices and the lake adjusts on read as of a date. Hence each download asks
for everything from ``since`` onwards, and bars newer than ``until`` are dropped.

Frames: ``bars`` (``ts`` = the session's close at the exchange, as in ``BarsClosed``;
``available_at`` = ``ts`` plus ``publication_delay_min``) and ``corporate_actions`` (``ts`` =
``available_at`` = the start of the ex-date at the exchange; the real announcement is
earlier, so this never leaks, and every bar before the ex-date has a smaller ``ts``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import structlog

from daemon.feeds.base import NEW_YORK, FetchResult, Since, as_utc, concat, empty_frame, known_by, local_time, since_for
from daemon.feeds.config import YahooConfig
from daemon.feeds.errors import BadResponse, FeedError, RequestRejected, TransientError
from daemon.feeds.resilience import Guard

__all__ = ["Download", "YahooSource", "parse_history", "yfinance_download"]

log = structlog.get_logger(component="feeds.yahoo")

# (symbol, first session date, timeout_s) -> the frame of yfinance's Ticker.history
Download = Callable[[str, date, float], pd.DataFrame]
_PRICE_COLUMNS = ["Open", "High", "Low", "Close"]
# Longer than any market closure: a symbol with no bars for this long is reported.
_QUIET_DAYS = 10


def yfinance_download(symbol: str, start: date, timeout_s: float) -> pd.DataFrame:
    """Daily history from ``start`` to today: unadjusted for dividends, with actions."""
    import yfinance as yf

    # Raise instead of logging and returning an empty frame, so a delisted symbol is
    # told apart from a window without sessions.
    yf.config.debug.hide_exceptions = False
    return yf.Ticker(symbol).history(start=start, interval="1d", auto_adjust=False, actions=True, timeout=timeout_s)


def parse_history(
    symbol: str,
    history: pd.DataFrame,
    *,
    zone: ZoneInfo = NEW_YORK,
    close_time: time = time(16, 0),
    delay: timedelta = timedelta(minutes=15),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """yfinance history (index: session dates; Open, High, Low, Close, Volume, optional
    Dividends and Stock Splits; split-adjusted to the download date) -> raw ``bars`` and
    ``corporate_actions`` frames. Raises BadResponse when the frame is not of that shape."""
    if history is None or history.empty:
        return empty_frame("bars"), empty_frame("corporate_actions")
    if not isinstance(history.index, pd.DatetimeIndex):
        raise BadResponse(f"{symbol}: history index is {type(history.index).__name__}, not dates")
    if missing := [c for c in [*_PRICE_COLUMNS, "Volume"] if c not in history.columns]:
        raise BadResponse(f"{symbol}: history lacks columns {missing}")
    frame = history.copy()
    for column in ("Dividends", "Stock Splits"):
        if column not in frame.columns:
            frame[column] = 0.0
    numeric = [*_PRICE_COLUMNS, "Volume", "Dividends", "Stock Splits"]
    if wrong := [c for c in numeric if not pd.api.types.is_numeric_dtype(frame[c])]:
        raise BadResponse(f"{symbol}: non-numeric history columns {wrong}")
    index = frame.index.tz_convert(zone) if frame.index.tz is not None else frame.index
    frame.index = pd.DatetimeIndex(index.date, name="date")
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    frame = frame.dropna(subset=_PRICE_COLUMNS, how="all")

    ratio = frame["Stock Splits"].fillna(0.0).to_numpy(dtype=np.float64)
    ratio = np.where(ratio > 0, ratio, 1.0)
    later_splits = np.cumprod(ratio[::-1])[::-1] / ratio  # product of the splits after each session
    days = [d.date() for d in frame.index]
    closes = pd.DatetimeIndex([local_time(d, close_time, zone) for d in days])

    bars = pd.DataFrame(
        {
            "symbol": symbol,
            "ts": closes,
            "available_at": closes + delay,
            **{c.lower(): frame[c].to_numpy(dtype=np.float64) * later_splits for c in _PRICE_COLUMNS},
            "volume": frame["Volume"].to_numpy(dtype=np.float64) / later_splits,
            "source": "yahoo",
        }
    )
    ex_open = pd.DatetimeIndex([local_time(d, time(0), zone) for d in days])
    dividend = frame["Dividends"].fillna(0.0).to_numpy(dtype=np.float64)
    is_split, is_dividend = frame["Stock Splits"].fillna(0.0).to_numpy() > 0, dividend > 0
    actions = pd.DataFrame(
        {
            "symbol": symbol,
            "ts": ex_open[is_split].append(ex_open[is_dividend]),
            "available_at": ex_open[is_split].append(ex_open[is_dividend]),
            "action": ["split"] * int(is_split.sum()) + ["dividend"] * int(is_dividend.sum()),
            "value": np.concatenate([ratio[is_split], dividend[is_dividend] * later_splits[is_dividend]]),
            "source": "yahoo",
        }
    )
    return bars, actions


class YahooSource:
    """``fetch(symbols, since, until)``: ``since`` bounds ``ts`` (the last stored bar);
    each symbol is re-fetched from ``overlap_days`` before it to pick up corrections."""

    name = "yahoo"
    datasets = ("bars", "corporate_actions")
    since_column = "ts"

    def __init__(
        self,
        config: YahooConfig,
        guard: Guard,
        *,
        download: Download = yfinance_download,
        zone: ZoneInfo = NEW_YORK,
        close_time: time = time(16, 0),
    ) -> None:
        self.config = config
        self.guard = guard
        self._download_fn = download
        self._zone = zone
        self._close_time = close_time

    async def fetch(self, symbols: Sequence[str], since: Since, until: datetime) -> FetchResult:
        until = as_utc(until, "until")
        default = pd.Timestamp(self.config.history_start, tz="UTC")
        bars, actions, failures, dropped = [], [], {}, []
        for symbol in symbols:
            first = since_for(since, symbol, default).tz_convert(self._zone).date()
            first -= timedelta(days=self.config.overlap_days)
            try:
                history = await self.guard.call(
                    functools.partial(self._download, symbol, first), what=f"history {symbol}"
                )
                symbol_bars, symbol_actions = parse_history(
                    symbol,
                    history,
                    zone=self._zone,
                    close_time=self._close_time,
                    delay=timedelta(minutes=self.config.publication_delay_min),
                )
            except FeedError as exc:
                failures[symbol] = str(exc)
                continue
            if symbol_bars.empty:
                quiet_days = (until.tz_convert(self._zone).date() - first).days
                if quiet_days > self.config.overlap_days + _QUIET_DAYS:
                    failures[symbol] = f"{symbol}: no price data since {first} (possibly delisted)"
                    continue
                log.info("no_new_bars", source=self.name, symbol=symbol, since=first.isoformat())
            bars.append(symbol_bars)
            actions.append(symbol_actions)
        frames = {
            "bars": known_by(concat(bars, "bars"), until, dropped, "bars"),
            "corporate_actions": known_by(concat(actions, "corporate_actions"), until, dropped, "corporate actions"),
        }
        return FetchResult(self.name, frames, failures, dropped)

    async def _download(self, symbol: str, first: date) -> pd.DataFrame:
        """One attempt, classified: unknown/delisted symbols are rejected, the rest retried."""
        from yfinance.exceptions import YFPricesMissingError, YFRateLimitError, YFTickerMissingError

        timeout = self.config.timeout_s
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._download_fn, symbol, first, timeout), 2 * timeout)
        except YFPricesMissingError:
            return pd.DataFrame()  # no sessions in the window (a holiday, a weekend)
        except YFTickerMissingError as exc:
            raise RequestRejected(f"{symbol}: unknown or delisted symbol ({exc})") from None
        except YFRateLimitError:
            raise TransientError("rate limited by Yahoo") from None
        except TimeoutError:
            raise TransientError(f"timed out after {2 * timeout:g}s") from None
        except Exception as exc:  # yfinance surfaces network failures as assorted exception types
            raise TransientError(f"{type(exc).__name__}: {exc}") from None
