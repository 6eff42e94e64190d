"""A background writer: commits batches on a second thread while a backtest replays.

SQLite releases the GIL while it executes, so handing whole batches to a writer thread
lets the replay use one core and the database another. Batches are written in order,
each in one transaction, exactly as the synchronous path would; ``drain()`` waits until
all are committed and re-raises the first error. The queue is bounded so a slow disk
holds the replay back instead of growing memory.
"""

from __future__ import annotations

import queue
import threading

from state.store import Batch, Store

__all__ = ["BackgroundWriter"]

_STOP = object()


class BackgroundWriter:
    """Writes ``(run_id, Batch)`` items to ``store`` on its own thread."""

    def __init__(self, store: Store, *, depth: int = 4) -> None:
        self._store = store
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tradingd-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if self._error is None:
                    run_id, batch = item  # type: ignore[misc]
                    self._store.write(run_id, batch)
            except BaseException as exc:  # kept and re-raised on the caller's thread
                self._error = exc
            finally:
                self._queue.task_done()

    def submit(self, run_id: str, batch: Batch) -> None:
        """Queue a batch (blocks while the queue is full); raises an earlier write error."""
        self._raise()
        self._queue.put((run_id, batch))

    def drain(self) -> None:
        """Wait until everything submitted is committed."""
        self._queue.join()
        self._raise()

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError(f"database write failed: {error}") from error
