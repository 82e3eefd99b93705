"""The durable outbox: every measurement is written here before anything else, numbered, and
kept until the hub acknowledges it; each row holds the measurement's wire JSON
(`hub.wire.WireMeasurement`).

SQLite in WAL mode with ``synchronous=FULL``: a measurement whose ``add`` returned survives a
SIGKILL or a power cut (pruning what the hub acknowledged is not synced on its own);
``add_all`` writes the values of one reading in one transaction (one disk sync; all of them or
none), with the BLE device's record number it came with, so that a reading stored is never
fetched from the device again after a restart, and a record never skipped unstored.

``add_all`` writes on the caller's thread, the event loop's: that loop carries only the
measurement path (media runs in its own process), and the next step of a reading, sending it,
needs its disk sync done anyway. A worker thread cost two wake-ups per reading (the thread,
then the loop again), each one more chance to wait behind video on a busy cabin PC
(``bench/agent_pipeline.py --media``). The price: during a sync (under a millisecond on an
SSD, tens on a slow SD card) the loop does nothing else; the kernel buffers the devices'
frames and the hub's messages meanwhile. What is rarer (reading back, pruning, refusing) still
goes to a thread.

The write-ahead log is given its full size when the outbox opens (``_make_room_in_the_log``):
SQLite deletes it when the agent stops, so it would otherwise grow again with each of the next
few hundred readings, and a disk sync that grows a file also writes its size and where its
new blocks are (on a journalled file system, through a journal commit by a kernel thread):
several writes per reading instead of one, and more chances to wait on a busy cabin PC. Once
the log has its size, SQLite writes it again from its start after each checkpoint.

Sequence numbers come from AUTOINCREMENT, so they are never reused, even after rows are
pruned; ``ensure_after`` moves them past what the hub already stored (a
reinstalled agent with an empty outbox must not reuse numbers), and brings them back below the
wire's ``MAX_SEQ`` if an older hub ever pushed them beyond (the hub refuses such numbers).

While the hub keeps up, the outbox also holds what waits in memory (up to ``MEMORY_LIMIT``
measurements), so the hub link sends a reading as soon as its disk sync returns, without
reading the database back. Once more is waiting (the hub unreachable for a while) it reads the
database again, until it has caught up."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devices.measurements import Measurement
from hub.wire import MAX_SEQ, UnreadableMeasurement, WireMeasurement, read_measurement

logger = logging.getLogger(__name__)

#: Waiting measurements kept in memory as well (beyond, they are read from the database).
MEMORY_LIMIT = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS measurements (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    rejected_reason TEXT
);
CREATE TABLE IF NOT EXISTS cursors (
    device TEXT PRIMARY KEY,
    last_sequence INTEGER NOT NULL
);
-- One row rewritten to give the write-ahead log its size (see the module's docstring).
CREATE TABLE IF NOT EXISTS log_room (n INTEGER NOT NULL);
"""
#: Frames the log holds beyond SQLite's automatic checkpoint (a reading's transaction writes a
#: few), so that its transactions never grow it.
LOG_MARGIN_FRAMES = 64
#: The log is given its size only where the disk has this many times as much free.
LOG_ROOM_FREE_FACTOR = 16
_SET_CURSOR = (
    "INSERT INTO cursors (device, last_sequence) VALUES (?, ?) "
    "ON CONFLICT(device) DO UPDATE SET last_sequence = excluded.last_sequence"
)


@dataclass(frozen=True, slots=True)
class Pending:
    """A measurement waiting for the hub, typed as the wire carries it (a row that no longer
    reads as one is sent as it is, for the hub to refuse)."""

    seq: int
    device: str
    measurement: WireMeasurement | UnreadableMeasurement


class Outbox:
    """Measurements waiting for the hub's acknowledgement."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        #: Every measurement waiting (not refused), by number, when known; None: read the
        #: database. Guarded by its own lock, never held across a disk access, so the event
        #: loop reads it while a writer thread syncs.
        self._waiting: dict[int, Pending] | None = None
        self._waiting_lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._make_room_in_the_log(Path(f"{path}-wal"))

    def _make_room_in_the_log(self, log: Path) -> None:
        """Grow the write-ahead log to the size it reaches between two checkpoints, once, with
        throw-away transactions not synced one by one, then checkpoint (which syncs the log):
        the next transaction writes the log from its start again, over blocks already there."""
        (pages,) = self._db.execute("PRAGMA wal_autocheckpoint").fetchone()
        (page_size,) = self._db.execute("PRAGMA page_size").fetchone()
        frames = max(int(pages), 0) + LOG_MARGIN_FRAMES
        size = 32 + frames * (int(page_size) + 24)
        if log.exists() and log.stat().st_size >= size:
            return
        if shutil.disk_usage(log.parent).free < LOG_ROOM_FREE_FACTOR * size:
            return  # a nearly full disk: its last space is the readings' (the log grows)
        with self._lock:
            try:
                with self._synchronous("OFF"):
                    self._db.execute("PRAGMA wal_autocheckpoint=0")
                    try:
                        if self._db.execute("SELECT count(*) FROM log_room").fetchone() == (0,):
                            self._db.execute("INSERT INTO log_room (n) VALUES (0)")
                        for n in range(frames):  # a transaction each: one frame each
                            self._db.execute("UPDATE log_room SET n = ?", (n,))
                    finally:
                        self._db.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.OperationalError as exc:  # the disk filled meanwhile: as before
                logger.warning("the outbox's log could not be given its size: %s", exc)

    @contextlib.contextmanager
    def _synchronous(self, level: str) -> Iterator[None]:
        """Write at another disk-sync level meanwhile, then FULL again; the caller locks."""
        self._db.execute(f"PRAGMA synchronous={level}")
        try:
            yield
        finally:
            self._db.execute("PRAGMA synchronous=FULL")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # Blocking primitives (``_add`` on the caller's thread, the others in a thread by the
    # async wrappers).

    def _add(self, device: str, wires: list[WireMeasurement], record: int | None) -> list[int]:
        """One transaction (one disk sync) for the measurements of one reading and the device
        record number it came with."""
        created = dt.datetime.now(dt.UTC).isoformat()
        payloads = [wire.model_dump_json() for wire in wires]
        seqs = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for payload in payloads:
                    cursor = self._db.execute(
                        "INSERT INTO measurements (device, payload, created_at) VALUES (?, ?, ?)",
                        (device, payload, created),
                    )
                    assert cursor.lastrowid is not None
                    seqs.append(cursor.lastrowid)
                if record is not None:
                    self._db.execute(_SET_CURSOR, (device, record))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            with self._waiting_lock:
                if self._waiting is not None:
                    for seq, wire in zip(seqs, wires, strict=True):
                        self._waiting[seq] = Pending(seq, device, wire)
                    if len(self._waiting) > MEMORY_LIMIT:
                        self._waiting = None
        return seqs

    def _pending(self, limit: int, exclude: frozenset[int]) -> list[Pending]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, device, payload FROM measurements WHERE rejected_reason IS NULL "
                "ORDER BY seq LIMIT ?",
                (limit + len(exclude),),
            ).fetchall()
            read = [Pending(seq, device, _read(payload)) for seq, device, payload in rows]
            if len(rows) < limit + len(exclude):  # all that waits: keep it in memory
                with self._waiting_lock:
                    self._waiting = {p.seq: p for p in read}
        return [p for p in read if p.seq not in exclude][:limit]

    def _pending_in_memory(self, limit: int, exclude: frozenset[int]) -> list[Pending] | None:
        """`_pending` from memory, without blocking; None when memory does not hold it all."""
        with self._waiting_lock:
            if self._waiting is None:
                return None
            return [self._waiting[s] for s in sorted(self._waiting) if s not in exclude][:limit]

    def _forget(self, seqs: list[int]) -> None:
        with self._waiting_lock:
            if self._waiting is not None:
                for seq in seqs:
                    self._waiting.pop(seq, None)

    def _acknowledge(self, seqs: list[int]) -> None:
        """Prune what the hub stored, in one transaction without a disk sync of its own: a
        prune lost in a power cut only sends again what the hub already has, and it answers
        those as stored; the next measurement's sync writes the prune to disk anyway. (Each
        DELETE was its own synced transaction: a blood pressure's ack cost four disk syncs,
        during which a new reading waited for the lock.)"""
        with self._lock:
            with self._synchronous("NORMAL"):
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany(
                        "DELETE FROM measurements WHERE seq = ?", [(s,) for s in seqs]
                    )
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            self._forget(seqs)

    def _reject(self, seq: int, reason: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE measurements SET rejected_reason = ? WHERE seq = ?", (reason[:500], seq)
            )
            self._forget([seq])

    def _ensure_after(self, last_seq: int) -> None:
        with self._lock:
            current = self._db.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'measurements'"
            ).fetchone()
            if current is None:
                self._db.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES ('measurements', ?)",
                    (last_seq,),
                )
            elif current[0] < last_seq:
                self._db.execute(
                    "UPDATE sqlite_sequence SET seq = ? WHERE name = 'measurements'", (last_seq,)
                )
            elif current[0] > MAX_SEQ:
                self._renumber_beyond_max(last_seq)

    def _renumber_beyond_max(self, last_seq: int) -> None:
        """Give every row numbered beyond MAX_SEQ a fresh number after both ``last_seq`` (the
        hub stores no number above it) and the outbox's own valid numbers; the caller locks."""
        (highest,) = self._db.execute(
            "SELECT coalesce(max(seq), 0) FROM measurements WHERE seq <= ?", (MAX_SEQ,)
        ).fetchone()
        with self._waiting_lock:
            self._waiting = None  # numbers change: read them again
        following = max(last_seq, int(highest))
        beyond = self._db.execute(
            "SELECT seq FROM measurements WHERE seq > ? ORDER BY seq", (MAX_SEQ,)
        ).fetchall()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for (seq,) in beyond:
                following += 1
                self._db.execute("UPDATE measurements SET seq = ? WHERE seq = ?", (following, seq))
            self._db.execute(
                "UPDATE sqlite_sequence SET seq = ? WHERE name = 'measurements'", (following,)
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _cursor(self, device: str) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT last_sequence FROM cursors WHERE device = ?", (device,)
            ).fetchone()
        return None if row is None else int(row[0])

    def counts(self) -> tuple[int, int]:
        """(waiting for the hub, refused by the hub)."""
        with self._lock:
            waiting = self._db.execute(
                "SELECT count(*) FROM measurements WHERE rejected_reason IS NULL"
            ).fetchone()[0]
            refused = self._db.execute(
                "SELECT count(*) FROM measurements WHERE rejected_reason IS NOT NULL"
            ).fetchone()[0]
        return int(waiting), int(refused)

    # Async API.

    async def add(self, device: str, measurement: Measurement) -> int:
        """Store a measurement durably; returns its sequence number."""
        [seq] = await self.add_all(device, [measurement])
        return seq

    async def add_all(
        self, device: str, measurements: list[Measurement], *, record: int | None = None
    ) -> list[int]:
        """Store the measurements of one reading durably, together (a blood pressure's
        systolic, diastolic, mean and pulse: one disk sync, not four in a row), and the
        device's record number they came with (``cursor`` reads it back); returns their
        sequence numbers. Blocks the loop for the disk sync (see the module's docstring)."""
        if not measurements and record is None:
            return []
        wires = [WireMeasurement.from_measurement(m) for m in measurements]
        return self._add(device, wires, record)

    async def pending(
        self, limit: int = 200, exclude: frozenset[int] = frozenset()
    ) -> list[Pending]:
        """The oldest measurements not yet acknowledged (nor refused), but those in ``exclude``
        (from memory while it holds them all, else from the database)."""
        found = self._pending_in_memory(limit, exclude)
        if found is not None:
            return found
        return await asyncio.to_thread(self._pending, limit, exclude)

    async def acknowledge(self, seqs: list[int]) -> None:
        """The hub stored these: prune them."""
        if seqs:
            await asyncio.to_thread(self._acknowledge, seqs)

    async def reject(self, seq: int, reason: str) -> None:
        """The hub refused this one for good: keep it aside, never resend it."""
        await asyncio.to_thread(self._reject, seq, reason)

    async def ensure_after(self, last_seq: int) -> None:
        """Make the next sequence number greater than ``last_seq``."""
        await asyncio.to_thread(self._ensure_after, last_seq)

    async def cursor(self, device: str) -> int | None:
        """The last stored-record number fetched from a BLE device (survives restarts)."""
        return await asyncio.to_thread(self._cursor, device)


def _read(payload: str) -> WireMeasurement | UnreadableMeasurement:
    """A stored row's measurement (rows written before the typed wire have the same JSON)."""
    try:
        raw = json.loads(payload)
    except ValueError as exc:
        return UnreadableMeasurement(reason=f"not JSON in the outbox: {exc}", raw=payload)
    return read_measurement(raw)
