"""The results store of a study: one SQLite file per study directory.

Layout of ``DIR/study.sqlite`` (WAL journal, ``synchronous=FULL``):

* ``meta(key, value)``: ``format`` ("elpagen-study"), ``format_version``
  (:data:`FORMAT_VERSION`), ``settings`` (JSON: protocol, seeds, quick, sample counts,
  model configs, elpagen version, data sha256, the reference model's sigma/lambda) and ``created``.
* ``artifacts(name, payload, updated)``: study-wide JSON documents, e.g. ``reference``
  (class sizes, JS table, per-site distributions of the full space and training set,
  energy-histogram edges, the reference model's numbers) that the report needs.
* ``fits(key, payload, finished)``: one row per trained ensemble (model, class, training
  size, seeds, seconds).
* ``units(key, experiment, model, target_class, train_size, seed, status, payload,
  seconds, finished)``: one row per finished work unit (one fit sampled and scored for
  one experiment); ``payload`` is JSON (metrics, curves, histograms, ...).
* ``runs(id, started, finished, payload)``: one row per invocation (environment, pid and
  host, how many units it added, how it ended). The count ``new_units`` of the open run
  grows in the transaction that stores each unit, so it is right however the run ends.
  A run killed without a chance to record its
  end (kill -9, power cut) stays open ("running", no finish time) until the next run of the
  study, which holds the lock and so knows that process is gone: it marks the row
  "interrupted" with an unknown end (:meth:`Store.close_stale_runs`).

Every write is one transaction, so a crash or Ctrl-C leaves either the old or the new row,
never half of one, and a full disk fails the write without touching what is stored. Two
processes never write one store at once: :class:`DirLock` (``fcntl.flock`` on ``DIR/.lock``)
is held by a running study. Nothing here ever deletes a store.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from elpagen import io
from elpagen.errors import UserError

FORMAT = "elpagen-study"
#: Bump when the layout or the meaning of stored payloads changes.
FORMAT_VERSION = 1
STORE_NAME = "study.sqlite"
LOCK_NAME = ".lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS artifacts (
    name TEXT PRIMARY KEY, payload TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fits (
    key TEXT PRIMARY KEY, payload TEXT NOT NULL, finished TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (
    key TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    model TEXT NOT NULL,
    target_class INTEGER NOT NULL,
    train_size INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,
    seconds REAL NOT NULL,
    finished TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL, finished TEXT, payload TEXT NOT NULL);
"""


class StoreError(UserError, ValueError):
    """A study directory or store that cannot be used; the message says what to do."""


class DiskFullError(StoreError):
    """The disk filled up while writing; the store keeps every finished unit."""


def now() -> str:
    """Local time, ISO 8601 with the UTC offset, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# --------------------------------------------------------------------------- JSON


def dumps(obj: Any, **kw: Any) -> str:
    """Strict JSON (no NaN literals) of nested numpy/Python data, compact."""
    return io.dumps(obj, indent=kw.pop("indent", None), **kw)


# --------------------------------------------------------------------------- errors


def is_disk_full(e: BaseException) -> bool:
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(e, sqlite3.Error) and "full" in str(e).lower()


def disk_full(where: Path | str) -> DiskFullError:
    return DiskFullError(
        f"disk full while writing {where}; every finished fit is kept in the store: "
        "free some space and rerun the same command to resume"
    )


# --------------------------------------------------------------------------- the lock


class DirLock:
    """An exclusive, non-blocking ``flock`` on ``DIR/.lock`` for the life of a study run.

    The lock dies with the process (also on a crash or kill -9), so a stale lock file never
    blocks a later run; the pid written into it only serves the error message.
    """

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> DirLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            if is_disk_full(e):
                raise disk_full(self.path) from None
            raise StoreError(f"cannot create the lock file {self.path}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            who = f" (pid {pid})" if pid else ""
            raise StoreError(
                f"{self.path.parent} is in use by another elpagen study{who}; wait for it to "
                "finish or choose another -o DIR"
            ) from None
        with contextlib.suppress(OSError):  # the pid is informative only
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def process_gone(run: Mapping[str, Any]) -> bool:
    """True when the process of an open run row is known to be gone: it ran on this host
    (``host`` recorded) and no process with its ``pid`` exists. Without a host, or on
    another host, nothing is known (False). Needs no lock, so a report can ask it beside a
    running study."""
    pid, host = run.get("pid"), run.get("host")
    if not isinstance(pid, int) or pid <= 0 or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists, owned by someone else
        return False
    return False


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None


# --------------------------------------------------------------------------- the store


def store_path(directory: Path | str) -> Path:
    return Path(directory) / STORE_NAME


def check_directory(directory: Path | str) -> Path:
    """A usable study directory: new, empty, or one that holds a study store.

    Refuses a non-empty directory without a store so that report files never land among
    (and replace) files of someone else's.
    """
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise StoreError(f"{d} is a file, not a directory; choose another -o DIR")
    if d.is_dir() and not store_path(d).exists():
        others = [p.name for p in d.iterdir() if p.name != LOCK_NAME]
        if others:
            raise StoreError(
                f"{d} is not empty and holds no elpagen study ({STORE_NAME} missing); "
                "choose a new -o DIR"
            )
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(d) from None
        raise StoreError(f"cannot create {d}: {e.strerror}") from None
    if not os.access(d, os.W_OK):
        raise StoreError(f"{d} is not writable; choose another -o DIR")
    return d


class Store:
    """Open (or create) ``DIR/study.sqlite``; every write method is one transaction."""

    def __init__(self, conn: sqlite3.Connection, path: Path, readonly: bool) -> None:
        self.conn = conn
        self.path = path
        self.readonly = readonly
        self.run_id: int | None = None  # the open run (start_run), which put_unit counts

    # -- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: Path | str, settings: Mapping[str, Any]) -> Store:
        """Open for a study run: create the store, or check that ``settings`` match."""
        path = store_path(directory)
        conn = cls._connect(path, readonly=False)
        store = cls(conn, path, readonly=False)
        try:
            # A file without any table is what a crash during creation leaves (or an empty
            # file): it holds nothing, so it is initialised rather than refused.
            n_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if n_tables:
                # Checked before any pragma: a refused store is left byte for byte as it was.
                store._check_format()
                store._check_settings(settings)
            store._pragmas()
            if not n_tables:
                store._create(settings)
        except BaseException:
            conn.close()
            raise
        return store

    @classmethod
    def open_readonly(cls, directory: Path | str) -> Store:
        """Open an existing store for reading (the report); never creates or changes one."""
        path = store_path(directory)
        d = Path(directory)
        if not path.is_file() and (d.is_file() or d.suffix.lower() == ".csv"):
            what = "a file" if d.is_file() else "missing"
            csv = (f"; to score a CSV of compositions use `elpagen evaluate {d} -c CLASS`"
                   if d.suffix.lower() == ".csv" else "")
            raise StoreError(f"{d} is not a study directory ({what}; a study is the directory "
                             f"written by `elpagen study -o DIR`){csv}")
        if not path.is_file():
            raise StoreError(
                f"{Path(directory)} holds no elpagen study ({STORE_NAME} missing); "
                f"run `elpagen study -o {directory}` first"
            )
        conn = cls._connect(path, readonly=True)
        store = cls(conn, path, readonly=True)
        try:
            store._check_format()
        except BaseException:
            conn.close()
            raise
        return store

    @staticmethod
    def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
        try:
            if readonly:
                # mode=ro: a reader must never create the file or change the journal mode.
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
            else:
                conn = sqlite3.connect(path, timeout=30.0)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as e:
            if is_disk_full(e):
                raise disk_full(path) from None
            raise StoreError(
                f"{path} is not a readable elpagen study store ({e}); choose a new -o DIR"
            ) from None
        return conn

    def _pragmas(self) -> None:
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a finished unit survives a power cut, not only a process crash.
            self.conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as e:
            if is_disk_full(e):
                raise disk_full(self.path) from None
            raise StoreError(f"cannot open {self.path} for writing: {e}") from None

    def _meta(self) -> dict[str, str]:
        try:
            rows = self.conn.execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.DatabaseError:
            rows = None
        if not rows:
            raise StoreError(
                f"{self.path} is not an elpagen study store (no meta table); choose a new -o DIR"
            )
        return dict(rows)

    def _check_format(self) -> None:
        meta = self._meta()
        version = meta.get("format_version")
        if meta.get("format") != FORMAT or version != str(FORMAT_VERSION):
            raise StoreError(
                f"{self.path} was written by an incompatible elpagen version (store format "
                f"{version}, this version uses {FORMAT_VERSION}); choose a new -o DIR "
                "(the old store is left untouched)"
            )

    def _check_settings(self, settings: Mapping[str, Any]) -> None:
        stored = json.loads(self._meta().get("settings", "{}"))
        want = json.loads(dumps(settings))
        # Name the setting a user chose first (protocol, seeds, ...), not a derived one.
        first = ("protocol", "quick", "seeds", "model_configs", "data_sha256", "elpagen_version")
        keys = [k for k in first if k in stored or k in want]
        keys += sorted((set(stored) | set(want)) - set(keys))
        diff = [k for k in keys if stored.get(k) != want.get(k)]
        if diff:
            def short(v: Any) -> str:
                s = json.dumps(v)
                return s if len(s) <= 40 else s[:37] + "..."

            k = diff[0]
            more = f" (and {len(diff) - 1} more setting(s))" if len(diff) > 1 else ""
            raise StoreError(
                f"{self.path.parent} holds a study with other settings: {k} is "
                f"{short(stored.get(k))} there, {short(want.get(k))} now{more}; rerun with the "
                "same options to resume, or choose a new -o DIR"
            )

    def _create(self, settings: Mapping[str, Any]) -> None:
        with self.transaction() as c:
            c.executescript("BEGIN;" + _SCHEMA)
            c.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?)",
                [("format", FORMAT), ("format_version", str(FORMAT_VERSION)),
                 ("settings", dumps(settings)), ("created", now())],
            )

    # -- writing ------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; a full disk becomes :class:`DiskFullError` (nothing changed)."""
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only")
        try:
            with self.conn:  # commits, or rolls back on any exception
                yield self.conn
        except sqlite3.Error as e:
            if is_disk_full(e):
                raise disk_full(self.path) from None
            raise StoreError(f"cannot write {self.path}: {e}") from None
        except OSError as e:
            if is_disk_full(e):
                raise disk_full(self.path) from None
            raise

    def put_artifact(self, name: str, payload: Mapping[str, Any]) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO artifacts(name, payload, updated) VALUES (?, ?, ?)",
                (name, dumps(payload), now()),
            )

    def put_fit(self, key: str, payload: Mapping[str, Any]) -> None:
        self.put_fits([key], payload)

    def put_fits(self, keys: Sequence[str], payload: Mapping[str, Any]) -> None:
        """One fit record per key (the members of one ensemble), in one transaction."""
        with self.transaction() as c:
            stamp = now()
            c.executemany(
                "INSERT OR REPLACE INTO fits(key, payload, finished) VALUES (?, ?, ?)",
                [(key, dumps(payload), stamp) for key in keys],
            )

    def put_unit(
        self,
        key: str,
        *,
        experiment: str,
        model: str,
        target_class: int,
        train_size: int,
        seed: int,
        payload: Mapping[str, Any],
        seconds: float,
        status: str = "ok",
    ) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO units(key, experiment, model, target_class, train_size, "
                "seed, status, payload, seconds, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, experiment, model, int(target_class), int(train_size), int(seed), status,
                 dumps(payload), float(seconds), now()),
            )
            if self.run_id is not None:  # the same transaction: a kill -9 keeps the count
                row = c.execute("SELECT payload FROM runs WHERE id = ?", (self.run_id,)).fetchone()
                if row is not None:
                    run = json.loads(row[0])
                    run["new_units"] = int(run.get("new_units") or 0) + 1
                    c.execute("UPDATE runs SET payload = ? WHERE id = ?",
                              (dumps(run), self.run_id))

    def start_run(self, payload: Mapping[str, Any]) -> int:
        with self.transaction() as c:
            cur = c.execute("INSERT INTO runs(started, payload) VALUES (?, ?)",
                            (now(), dumps(payload)))
            self.run_id = int(cur.lastrowid)
            return self.run_id

    def finish_run(self, run_id: int, payload: Mapping[str, Any]) -> None:
        with self.transaction() as c:
            c.execute("UPDATE runs SET finished = ?, payload = ? WHERE id = ?",
                      (now(), dumps(payload), run_id))
        if run_id == self.run_id:
            self.run_id = None

    def close_stale_runs(self) -> list[int]:
        """Mark every open run (no finish time) as interrupted, its end time unknown.

        Call it only while holding the study's :class:`DirLock`: the lock is exclusive and
        dies with its process, so a run row still open then belongs to a process that is
        gone (killed, or on a machine that went down). ``finished`` stays NULL (the end
        time is not known); the payload gets ``status = "interrupted"`` and
        ``end_unknown = True``. Returns the ids of the rows closed.
        """
        rows = self.conn.execute(
            "SELECT id, payload FROM runs WHERE finished IS NULL ORDER BY id").fetchall()
        stale = []
        for run_id, payload in rows:
            p = json.loads(payload)
            if p.get("end_unknown"):
                continue  # closed by an earlier run already
            p.update(status="interrupted", end_unknown=True, closed=now())
            stale.append((run_id, p))
        if stale:
            with self.transaction() as c:
                c.executemany("UPDATE runs SET payload = ? WHERE id = ?",
                              [(dumps(p), i) for i, p in stale])
        return [i for i, _ in stale]

    # -- reading ------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        return json.loads(self._meta()["settings"])

    def meta(self) -> dict[str, str]:
        return self._meta()

    def artifact(self, name: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT payload FROM artifacts WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def unit_keys(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT key FROM units")}

    def units(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """Finished units (row fields plus the decoded payload), in key order."""
        q = ("SELECT key, experiment, model, target_class, train_size, seed, status, payload, "
             "seconds, finished FROM units")
        args: tuple[Any, ...] = ()
        if experiment is not None:
            q += " WHERE experiment = ?"
            args = (experiment,)
        out = []
        for r in self.conn.execute(q + " ORDER BY key", args):
            out.append({
                "key": r[0], "experiment": r[1], "model": r[2], "target_class": r[3],
                "train_size": r[4], "seed": r[5], "status": r[6], "payload": json.loads(r[7]),
                "seconds": r[8], "finished": r[9],
            })
        return out

    def fits(self) -> dict[str, dict[str, Any]]:
        return {k: json.loads(p) for k, p in self.conn.execute("SELECT key, payload FROM fits")}

    def runs(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT id, started, finished, payload FROM runs ORDER BY id")
        return [{"id": i, "started": s, "finished": f, **json.loads(p)} for i, s, f, p in rows]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """:func:`elpagen.io.atomic_write`; ENOSPC becomes :class:`DiskFullError` and leaves the
    old file (if any) in place."""
    from elpagen.io import atomic_write

    try:
        atomic_write(path, data)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(Path(path)) from None
        raise
