"""The facts of the consultations done, kept up to date by the database itself.

``reporting_consultation_facts`` (``models.ConsultationFact``) holds one narrow row per
consultation done with everything the indicators count, so that a year is counted from that one
table (``aggregates``) instead of joining consultations, bookings, patients, reports, referrals
and the outbox. Its rows are the rows of the view ``reporting_fact_source``: the joined
computation, defined once here (``source_select``).

Triggers keep them equal in the same transaction as the write, whatever writes: the services'
ORM flushes, bulk UPDATEs (the outbox's withdrawals), raw SQL, another process. Each trigger
recomputes the rows of the consultations a changed row bears on (a consultation, its booking's
times, a report, a referral, a message carrying a report) from the view, or copies a patient's
médecin-traitant flag to their rows. Python session events would miss the writes that are not
flushes, and the ones made outside the hub.

What could still make them drift, and what repairs it: a write with the triggers off (a
PostgreSQL restore with ``--disable-triggers``, ``session_replication_role = replica``), or the
triggers lost (tests/hub/test_migrations.py checks they are all there at head). ``install``
puts the view and the triggers (back) in place, ``rebuild`` recomputes every row from the view,
and ``differences`` counts the rows that disagree with it; ``python -m hub reporting-facts``
runs the three (the migration that created the table too). A later migration that copies one
of the six watched tables (SQLite's batch mode recreating it) runs inside ``lifted``: SQLite
refuses to rename a table into place while the view names it, and the copy would lose the
table's triggers. A migration that changes what the facts hold calls ``install`` and
``rebuild`` (0028 builds them with this module's current definition).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    case,
    cast,
    column,
    delete,
    except_,
    false,
    func,
    insert,
    select,
    table,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import aliased

from hub.consultation.models import Consultation, State
from hub.notify.models import MessageStatus, OutboundMessage
from hub.records.patients import Patient
from hub.relay.models import Referral
from hub.reporting.models import ConsultationFact
from hub.reports.models import Report, ReportStatus
from hub.scheduling.models import Booking

DONE_STATES = (State.REPORTING, State.CLOSED)
RELAY_TO_MT = "report_relay"
RELAY_TO_RELAY_DOCTOR = "referral_report"
RELAY_PURPOSES = (RELAY_TO_MT, RELAY_TO_RELAY_DOCTOR)
FACTS = ConsultationFact.__tablename__
VIEW = "reporting_fact_source"
COLUMNS = tuple(c.name for c in ConsultationFact.__table__.columns)
PREFIX = "reporting_facts_"  # of every trigger (and PostgreSQL function) here


def epoch_us(column: Any, dialect: str) -> Any:
    """A stored UTC time as an exact integer number of microseconds from a fixed origin (the
    origin differs between backends: only differences are meaningful)."""
    if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff'
        # julianday() keeps whole milliseconds: their count is exact once rounded; the last
        # three digits of the microseconds come from the text.
        ms = cast(func.round(func.julianday(func.substr(column, 1, 23)) * 86_400_000), BigInteger)
        return ms * 1000 + cast(func.substr(column, 24, 3), BigInteger)
    return cast(func.extract("epoch", column) * 1_000_000, BigInteger)


def _delay_us(dialect: str) -> Any:
    """From the request to the start, in microseconds; none before the request (a slip), and
    none measured when the start was not recorded."""
    delay = epoch_us(Consultation.started_at, dialect) - epoch_us(
        Booking.care_requested_at, dialect
    )
    if dialect == "sqlite":
        return func.max(delay, 0)  # scalar max: NULL when the start is unknown
    return case((delay < 0, 0), else_=delay)  # (GREATEST would turn an unknown start to 0)


def source_select(dialect: str) -> Select[Any]:
    """The facts as computed from the other slices' tables: one row per consultation done,
    in the order of ``COLUMNS``."""
    latest = aliased(Report)
    latest_signed = (
        select(latest)
        .where(latest.consultation_id == Consultation.id, latest.status == ReportStatus.SIGNED)
        .order_by(latest.version.desc())
        .limit(1)
    )

    def of_latest(column: str) -> Any:
        picked = latest_signed.with_only_columns(getattr(latest, column))
        return picked.scalar_subquery()

    def relays(*condition: Any) -> Any:
        # Report by report, its messages by the index on their related kind and id: both
        # backends then go from the consultation's reports to their messages, never from
        # every report's message to its report (PostgreSQL, turning an IN into a join, did
        # that while the tables' statistics were those of a new database).
        carried = aliased(Report)
        per_report = (
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                OutboundMessage.related_kind == "report",
                OutboundMessage.related_id == carried.id,
                OutboundMessage.purpose.in_(RELAY_PURPOSES),
                *condition,
            )
            .scalar_subquery()
        )
        return (
            select(cast(func.coalesce(func.sum(per_report), 0), Integer))
            .where(carried.consultation_id == Consultation.id)
            .scalar_subquery()
        )

    status = OutboundMessage.status
    return (
        select(
            Consultation.id.label("consultation_id"),
            Consultation.site_id.label("site_id"),
            func.coalesce(Consultation.started_at, Booking.starts_at).label("at"),
            Consultation.patient_id.label("patient_id"),
            Patient.has_medecin_traitant.label("has_mt"),
            _delay_us(dialect).label("delay_us"),
            of_latest("orientation").label("orientation"),
            func.coalesce(of_latest("psychiatric"), false()).label("psychiatric"),
            select(func.count())
            .where(Referral.consultation_id == Consultation.id)
            .scalar_subquery()
            .label("referrals"),
            relays(OutboundMessage.purpose == RELAY_TO_MT).label("relays_to_mt"),
            relays(OutboundMessage.purpose == RELAY_TO_RELAY_DOCTOR).label(
                "relays_to_relay_doctor"
            ),
            relays(status == MessageStatus.SENT).label("relays_sent"),
            relays(status == MessageStatus.PENDING).label("relays_pending"),
            relays(status == MessageStatus.FAILED).label("relays_failed"),
            relays(status == MessageStatus.CANCELLED).label("relays_cancelled"),
        )
        .select_from(Consultation)
        .join(Booking, Booking.id == Consultation.booking_id)
        .join(Patient, Patient.id == Consultation.patient_id)
        .where(Consultation.state.in_(DONE_STATES))
    )


def _sql(statement: Any, dialect: Dialect) -> str:
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


# What each table's rows bear on: (table, the columns whose change matters (None: any), the
# consultations' ids from a row ``{row}`` (OLD or NEW), when it matters (None: always)).
_RELAY = "{row}.related_kind = 'report' AND {row}.purpose IN ('report_relay', 'referral_report')"
_WATCHED = (
    (
        "consultations",
        ("state", "started_at", "site_id", "patient_id", "booking_id"),
        "{row}.id",
        None,
    ),
    (
        "bookings",
        ("starts_at", "care_requested_at"),
        "SELECT id FROM consultations WHERE booking_id = {row}.id",
        None,
    ),
    (
        "reports",
        ("consultation_id", "status", "version", "orientation", "psychiatric"),
        "{row}.consultation_id",
        None,
    ),
    ("referrals", ("consultation_id",), "{row}.consultation_id", None),
    (
        "outbound_messages",
        ("related_kind", "related_id", "purpose", "status"),
        "SELECT consultation_id FROM reports WHERE id = {row}.related_id",
        _RELAY,
    ),
)
# (Statements of the triggers: every name in them is one of this module's constants.)
_COPY_MT = f"UPDATE {FACTS} SET has_mt = {{row}}.has_medecin_traitant WHERE patient_id = {{row}}.id"  # noqa: S608


def _refresh(ids: str) -> str:
    """Statements recomputing the facts of the consultations ``ids`` (an SQL list)."""
    columns = ", ".join(COLUMNS)
    delete_them = f"DELETE FROM {FACTS} WHERE consultation_id IN ({ids});"  # noqa: S608
    insert_them = f"INSERT INTO {FACTS} ({columns}) SELECT {columns} FROM {VIEW}"  # noqa: S608
    return f"{delete_them} {insert_them} WHERE consultation_id IN ({ids});"


def _ids(expression: str, rows: tuple[str, ...]) -> str:
    if expression.startswith("SELECT"):
        return " UNION ".join(expression.format(row=r) for r in rows)
    return ", ".join(expression.format(row=r) for r in rows)


def _sqlite_triggers() -> list[tuple[str, str]]:
    out = []
    for watched, columns, expression, condition in _WATCHED:
        for event, rows in (
            ("INSERT", ("NEW",)),
            ("UPDATE", ("OLD", "NEW")),
            ("DELETE", ("OLD",)),
        ):
            if watched == "bookings" and event != "UPDATE":
                continue  # a new booking has no consultation; a deleted one takes it along
            name = f"{PREFIX}{watched}_{event.lower()}"
            on = f"UPDATE OF {', '.join(columns)}" if event == "UPDATE" else event
            when = ""
            if condition is not None:
                when = " WHEN " + " OR ".join(f"({condition.format(row=r)})" for r in rows)
            body = _refresh(_ids(expression, rows))
            out.append(
                (name, f"CREATE TRIGGER {name} AFTER {on} ON {watched}{when} BEGIN {body} END")
            )
    name = f"{PREFIX}patients_update"
    body = _COPY_MT.format(row="NEW")
    out.append(
        (
            name,
            f"CREATE TRIGGER {name} AFTER UPDATE OF has_medecin_traitant ON patients "
            f"BEGIN {body}; END",
        )
    )
    return out


def _postgresql_triggers() -> list[tuple[str, str]]:
    """(name, DDL) for each table: a function, then its trigger of the same name."""
    out = []
    for watched, columns, expression, condition in _WATCHED:
        name = f"{PREFIX}{watched}"
        parts = []
        for row, ops in (("OLD", "('UPDATE', 'DELETE')"), ("NEW", "('INSERT', 'UPDATE')")):
            test = f"TG_OP IN {ops}"
            if condition is not None:
                test += f" AND {condition.format(row=row)}"
            parts.append(f"IF {test} THEN {_refresh(_ids(expression, (row,)))} END IF;")
        events = "INSERT OR DELETE OR UPDATE OF " + ", ".join(columns)
        if watched == "bookings":
            events = "UPDATE OF " + ", ".join(columns)
        out += _plpgsql(name, " ".join(parts), events, watched)
    name = f"{PREFIX}patients"
    body = f"{_COPY_MT.format(row='NEW')};"
    out += _plpgsql(name, body, "UPDATE OF has_medecin_traitant", "patients")
    return out


def _plpgsql(name: str, body: str, events: str, watched: str) -> list[tuple[str, str]]:
    return [
        (
            name,
            # Planned at each call: a plan cached while the tables were small (a new
            # database, a bulk load in one transaction) would scan them whole ever after.
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql "
            "SET plan_cache_mode = force_custom_plan AS $$ "
            f"BEGIN {body} RETURN NULL; END $$",
        ),
        (
            name,
            f"CREATE TRIGGER {name} AFTER {events} ON {watched} "
            f"FOR EACH ROW EXECUTE FUNCTION {name}()",
        ),
    ]


def trigger_names(dialect: str) -> tuple[str, ...]:
    """The triggers ``install`` creates on that backend."""
    triggers = _sqlite_triggers() if dialect == "sqlite" else _postgresql_triggers()
    return tuple(dict.fromkeys(name for name, _ in triggers))


def uninstall(connection: Connection) -> None:
    """Drop the triggers (and their functions) and the view."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        for name in trigger_names(dialect):
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    else:
        for name in trigger_names(dialect):
            connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name}() CASCADE")
    connection.exec_driver_sql(f"DROP VIEW IF EXISTS {VIEW}")


def install(connection: Connection) -> None:
    """Put the view and the triggers in place, replacing those there."""
    uninstall(connection)
    dialect = connection.dialect
    connection.exec_driver_sql(
        f"CREATE VIEW {VIEW} AS {_sql(source_select(dialect.name), dialect)}"
    )
    triggers = _sqlite_triggers() if dialect.name == "sqlite" else _postgresql_triggers()
    for _, ddl in triggers:
        connection.exec_driver_sql(ddl)


def _view() -> Any:
    return table(VIEW, *(column(name) for name in COLUMNS))


@contextlib.contextmanager
def lifted(connection: Connection) -> Iterator[None]:
    """Without the view and triggers for the time of the block, then rebuilt: for a migration
    that copies one of the watched tables (on SQLite, a batch operation recreating it, which
    SQLite refuses while the view names the table: "error in view reporting_fact_source")."""
    uninstall(connection)
    yield
    install(connection)
    rebuild(connection)


def rebuild(connection: Connection) -> int:
    """Recompute every fact from the view; returns how many consultations done there are."""
    view = _view()
    connection.execute(delete(ConsultationFact))
    connection.execute(insert(ConsultationFact).from_select(COLUMNS, select(*view.c)))
    return int(connection.scalar(select(func.count()).select_from(ConsultationFact)) or 0)


def differences(connection: Connection) -> int:
    """How many consultations' facts differ from the view's (missing, extra or changed)."""
    facts = ConsultationFact.__table__
    view = _view()
    ours, theirs = select(*facts.c), select(*view.c)
    extra = select(func.count()).select_from(except_(ours, theirs).subquery())
    missing = select(func.count()).select_from(except_(theirs, ours).subquery())
    return int(connection.scalar(extra) or 0) + int(connection.scalar(missing) or 0)
