"""The background writer: a backtest's SQLite writes on a second core.

A backtest records about as many rows as it replays bars, and writing them inline was
a fifth of a replay's time. ``ProcessWriter`` hands each batch to a child process
(``python -m state.writer DB RUN_ID``) over a pipe instead; the child writes each one
in its own transaction, in the order sent, exactly as ``Store.write`` would. The
parent carries on replaying meanwhile.

Guarantees:

- A batch lands whole or not at all. The child commits a batch only after reading
  all of it, so a parent killed mid-send leaves no partial batch behind.
- Nothing is lost silently. ``sync()`` waits until the child has committed everything
  sent; a child that failed (disk full, database locked past the busy timeout) makes
  the next ``write``/``sync``/``close`` raise ``WriterError`` with its error.
- When the parent dies, the child sees the pipe close, commits what it has read and
  exits.

Frames on the child's stdin are an 8-byte little-endian length, then that many bytes
of ``marshal`` data (rows by table name as plain tuples of str, float and None, see
``state.batch.TABLES``; parent and child are the same interpreter):
``("rows", Batch.rows())`` or ``("sync", n)``. The child answers each sync with one line
``synced n`` on stdout.
The live daemon does not use this: it commits every event before handling the next.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO

from state.batch import Batch, write_rows

__all__ = ["ProcessWriter", "WriterError"]

_ROOT = Path(__file__).resolve().parent.parent  # puts ``state`` on the child's path
_LENGTH = struct.Struct("<Q")
_PIPE_BYTES = 1 << 20  # room for a whole batch: the parent rarely waits for the child


class WriterError(RuntimeError):
    """The background writer failed; some batches may not have been written."""


class ProcessWriter:
    """Parent side: ``write`` batches, ``sync`` to wait for them, ``close`` at the end."""

    def __init__(self, path: Path | str, run_id: str) -> None:
        self.path = Path(path)
        self.run_id = run_id
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "state.writer", str(self.path), run_id],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin: BinaryIO = self._proc.stdin
        with contextlib.suppress(AttributeError, OSError):  # Linux only; a bigger pipe is optional
            import fcntl

            fcntl.fcntl(self._stdin.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        self._stdout: BinaryIO = self._proc.stdout
        self._syncs = 0
        self._closed = False

    @property
    def pid(self) -> int:
        return self._proc.pid

    def write(self, run_id: str, batch: Batch) -> None:
        """Queue ``batch`` (for this writer's run) to be written in one transaction."""
        if run_id != self.run_id:
            raise ValueError(f"this writer records run {self.run_id}, not {run_id}")
        if batch:
            self._send(("rows", batch.rows()))

    def sync(self) -> None:
        """Return once every batch sent so far is committed."""
        self._syncs += 1
        self._send(("sync", self._syncs))
        line = self._stdout.readline().decode().strip()
        if line != f"synced {self._syncs}":
            raise self._failure(f"expected 'synced {self._syncs}', got {line!r}")

    def close(self) -> None:
        """Wait for everything sent to be committed, then stop the child."""
        if self._closed:
            return
        code, err = self._stop(timeout=None)
        if code != 0:
            raise WriterError(f"background writer for {self.path} exited {code}: {err}")

    def _send(self, frame: tuple[str, Any]) -> None:
        if self._closed:
            raise WriterError("the background writer is closed")
        try:
            data = marshal.dumps(frame)
            self._stdin.write(_LENGTH.pack(len(data)))
            self._stdin.write(data)
            self._stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise self._failure(f"{type(exc).__name__}: {exc}") from exc

    def _failure(self, what: str) -> WriterError:
        code, err = self._stop(timeout=10)
        return WriterError(f"background writer for {self.path} failed (exit {code}): {err or what}")

    def _stop(self, timeout: float | None) -> tuple[int, str]:
        """Close the pipe, wait for the child (killed after ``timeout``), release its
        pipes; returns its exit code and the last line it wrote to stderr."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._stdin.close()
        try:
            code = self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            code = self._proc.wait()
        err = ""
        if self._proc.stderr is not None:
            err = _last_line(self._proc.stderr.read().decode(errors="replace"))
            self._proc.stderr.close()
        self._stdout.close()
        return code, err


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


# -- child side ---------------------------------------------------------------------------


def serve(path: str, run_id: str, frames: BinaryIO, replies: BinaryIO) -> int:
    """Apply frames from ``frames`` to the database at ``path`` until the pipe closes."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("pragma busy_timeout=10000")
        # As Store.fast_writes: a crashed backtest is rerun, and every commit lands whole.
        conn.execute("pragma synchronous=off")
        conn.execute("pragma foreign_keys=off")
        conn.execute("pragma cache_size=-65536")
        while True:
            head = frames.read(_LENGTH.size)
            if len(head) < _LENGTH.size:
                return 0  # the parent closed the pipe (done, or died between frames)
            (size,) = _LENGTH.unpack(head)
            data = frames.read(size)
            if len(data) < size:
                return 0  # the parent died mid-frame: that batch never arrived whole
            kind, payload = marshal.loads(data)
            if kind == "rows":
                write_rows(conn, run_id, payload)
            elif kind == "sync":
                replies.write(f"synced {payload}\n".encode())
                replies.flush()
            else:
                raise ValueError(f"unknown frame {kind!r}")
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when to
    # stop (it closes the pipe after its last batch), so the writer must not die first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m state.writer DB RUN_ID  (frames on stdin)", file=sys.stderr)
        return 2
    return serve(args[0], args[1], sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
