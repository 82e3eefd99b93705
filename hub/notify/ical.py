"""iCalendar (RFC 5545) invitations for bookings, to attach to confirmation e-mails.

Pure functions, no I/O. The event carries ``METHOD:REQUEST`` (or ``CANCEL`` for a
cancellation, with the same UID and a higher SEQUENCE) so calendar programs update the entry
they already hold.
"""

from __future__ import annotations

import datetime as dt

PRODID = "-//CPTS Telecabine//Hub//FR"
MAX_LINE_OCTETS = 75
CRLF = "\r\n"


def booking_event(
    *,
    uid: str,
    start: dt.datetime,
    end: dt.datetime,
    summary: str,
    location: str,
    description: str,
    organizer_name: str,
    organizer_email: str,
    sequence: int = 0,
    cancelled: bool = False,
    now: dt.datetime,
    attendee_name: str = "",
    attendee_email: str | None = None,
) -> bytes:
    """A VCALENDAR holding one VEVENT, as UTF-8 bytes with CRLF line endings.

    A confirmed event carries a display alarm one day before; a cancelled one carries none.
    """
    stamps = {"now": utc_stamp(now), "start": utc_stamp(start), "end": utc_stamp(end)}
    if end <= start:
        raise ValueError("the event must end after it starts")
    if sequence < 0:
        raise ValueError("SEQUENCE must not be negative")
    _refuse_line_breaks(uid=uid, organizer_email=organizer_email, attendee=attendee_email or "")
    lines = [
        "BEGIN:VCALENDAR",
        f"PRODID:{PRODID}",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        f"METHOD:{'CANCEL' if cancelled else 'REQUEST'}",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{stamps['now']}",
        f"DTSTART:{stamps['start']}",
        f"DTEND:{stamps['end']}",
        f"SUMMARY:{escape_text(summary)}",
        f"LOCATION:{escape_text(location)}",
        f"DESCRIPTION:{escape_text(description)}",
        f"ORGANIZER;CN={param_value(organizer_name)}:mailto:{organizer_email}",
    ]
    if attendee_email:
        cn = f";CN={param_value(attendee_name)}" if attendee_name else ""
        lines.append(f"ATTENDEE{cn};ROLE=REQ-PARTICIPANT:mailto:{attendee_email}")
    lines += [
        f"SEQUENCE:{sequence}",
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
        "TRANSP:OPAQUE",
    ]
    if not cancelled:
        lines += [
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"DESCRIPTION:{escape_text('Rappel : ' + summary)}",
            "TRIGGER:-P1D",
            "END:VALARM",
        ]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) + CRLF for line in lines).encode("utf-8")


def utc_stamp(moment: dt.datetime) -> str:
    """An aware datetime in the UTC "form #2" of RFC 5545: ``20260406T063000Z``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are refused: use an aware datetime")
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def escape_text(value: str) -> str:
    """A TEXT value escaped per RFC 5545 §3.3.11 (backslash, semicolon, comma, newline).

    Control characters other than tab and newline, which TEXT cannot hold, are dropped.
    """
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = "".join(ch for ch in value if ch in "\t\n" or not _is_control(ch))
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\n", "\\n")


def _is_control(ch: str) -> bool:
    return ord(ch) < 0x20 or ord(ch) == 0x7F


def param_value(value: str) -> str:
    """A parameter value (e.g. CN), double-quoted when it holds ``:``, ``;`` or ``,``.

    Parameter values cannot be escaped: double quotes and control characters are dropped.
    """
    cleaned = "".join(" " if ch in "\r\n\t" else ch for ch in value if ch != '"')
    cleaned = "".join(ch for ch in cleaned if ch.isprintable())
    if any(ch in cleaned for ch in ":;,"):
        return f'"{cleaned}"'
    return cleaned


def fold(line: str) -> str:
    """A content line folded at 75 octets (RFC 5545 §3.1), never inside a UTF-8 sequence.

    Continuation lines start with one space, which counts in their 75 octets.
    """
    if len(line.encode("utf-8")) <= MAX_LINE_OCTETS:
        return line
    parts: list[str] = []
    current: list[str] = []
    size = 0
    limit = MAX_LINE_OCTETS
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            parts.append("".join(current))
            current, size, limit = [], 0, MAX_LINE_OCTETS - 1
        current.append(ch)
        size += width
    parts.append("".join(current))
    return (CRLF + " ").join(parts)


def _refuse_line_breaks(**values: str) -> None:
    for name, value in values.items():
        if any(ch in value for ch in "\r\n") or any(not ch.isprintable() for ch in value):
            raise ValueError(f"{name} must not contain line breaks or control characters")
