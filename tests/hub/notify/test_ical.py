"""Booking invitations: RFC 5545 structure, text escaping, line folding, CRLF endings."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.notify.ical import booking_event, escape_text, fold

PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 3, 20, 9, 15, 0, tzinfo=dt.UTC)

Property = tuple[str, dict[str, str], str]


def unfold(data: bytes) -> list[str]:
    """Content lines of an iCalendar stream: CRLF-split, continuation lines joined."""
    text = data.decode("utf-8")
    assert text.endswith("\r\n")
    lines: list[str] = []
    for physical in text[:-2].split("\r\n"):
        if physical.startswith((" ", "\t")):
            lines[-1] += physical[1:]
        else:
            lines.append(physical)
    return lines


def parse_line(line: str) -> Property:
    """NAME;PARAM=VALUE...:VALUE, with double-quoted parameter values."""
    in_quotes = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_quotes = not in_quotes
        elif ch == ":" and not in_quotes:
            head, value = line[:i], line[i + 1 :]
            break
    else:
        raise AssertionError(f"no value in {line!r}")
    name, *params = head.split(";")
    parsed = {}
    for param in params:
        key, _, raw = param.partition("=")
        parsed[key] = raw[1:-1] if raw.startswith('"') else raw
    return name, parsed, value


def unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\":
            nxt = value[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def vevent(data: bytes) -> dict[str, Property]:
    """The VEVENT's properties (outside the VALARM), by name."""
    props: dict[str, Property] = {}
    depth: list[str] = []
    for line in unfold(data):
        name, params, value = parse_line(line)
        if name == "BEGIN":
            depth.append(value)
        elif name == "END":
            assert depth.pop() == value
        elif depth == ["VCALENDAR", "VEVENT"]:
            props[name] = (name, params, value)
    assert depth == []
    return props


def event(**overrides: object) -> bytes:
    fields: dict[str, object] = {
        "uid": "booking-42@cpts.example",
        "start": dt.datetime(2026, 4, 7, 8, 30, tzinfo=PARIS),
        "end": dt.datetime(2026, 4, 7, 8, 50, tzinfo=PARIS),
        "summary": "Téléconsultation accompagnée",
        "location": "Cabinet de téléconsultation, 3 rue des Écoles, 35000 Rennes",
        "description": "Présentez-vous 10 minutes avant avec votre carte Vitale.",
        "organizer_name": "CPTS du Pays de Rennes",
        "organizer_email": "noreply@cpts.example",
        "now": NOW,
    }
    fields.update(overrides)
    return booking_event(**fields)  # type: ignore[arg-type]


def test_request_has_the_expected_structure() -> None:
    data = event()
    lines = unfold(data)
    assert lines[:5] == [
        "BEGIN:VCALENDAR",
        "PRODID:-//CPTS Telecabine//Hub//FR",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:REQUEST",
    ]
    assert lines[-2:] == ["END:VEVENT", "END:VCALENDAR"]
    props = vevent(data)
    assert props["UID"][2] == "booking-42@cpts.example"
    assert props["DTSTAMP"][2] == "20260320T091500Z"
    assert props["DTSTART"][2] == "20260407T063000Z"  # 8:30 in Paris, summer time
    assert props["DTEND"][2] == "20260407T065000Z"
    assert unescape(props["SUMMARY"][2]) == "Téléconsultation accompagnée"
    assert unescape(props["LOCATION"][2]) == (
        "Cabinet de téléconsultation, 3 rue des Écoles, 35000 Rennes"
    )
    assert props["ORGANIZER"][1] == {"CN": "CPTS du Pays de Rennes"}
    assert props["ORGANIZER"][2] == "mailto:noreply@cpts.example"
    assert (props["SEQUENCE"][2], props["STATUS"][2]) == ("0", "CONFIRMED")
    alarm = lines[lines.index("BEGIN:VALARM") : lines.index("END:VALARM") + 1]
    assert "TRIGGER:-P1D" in alarm
    assert "ACTION:DISPLAY" in alarm


def test_every_line_ends_with_crlf() -> None:
    data = event(description="Ligne 1\nLigne 2\r\nLigne 3")
    assert data.endswith(b"\r\n")
    assert data.count(b"\n") == data.count(b"\r\n")
    assert data.count(b"\r") == data.count(b"\r\n")


def test_cancellation_keeps_uid_and_drops_the_alarm() -> None:
    data = event(cancelled=True, sequence=2)
    assert "METHOD:CANCEL" in unfold(data)
    assert "BEGIN:VALARM" not in unfold(data)
    props = vevent(data)
    assert (props["UID"][2], props["SEQUENCE"][2], props["STATUS"][2]) == (
        "booking-42@cpts.example",
        "2",
        "CANCELLED",
    )


def test_text_values_are_escaped() -> None:
    summary = "RDV; salle 2, étage 1\napporter C:\\ordonnances"
    data = event(summary=summary)
    raw = vevent(data)["SUMMARY"][2]
    assert raw == "RDV\\; salle 2\\, étage 1\\napporter C:\\\\ordonnances"
    assert unescape(raw) == summary


def test_organizer_name_with_a_comma_is_quoted() -> None:
    data = event(organizer_name='CPTS "Rance", Émeraude: secrétariat')
    line = next(x for x in unfold(data) if x.startswith("ORGANIZER"))
    assert line == 'ORGANIZER;CN="CPTS Rance, Émeraude: secrétariat":mailto:noreply@cpts.example'
    assert vevent(data)["ORGANIZER"][1] == {"CN": "CPTS Rance, Émeraude: secrétariat"}


def test_long_french_text_is_folded_at_75_octets_between_characters() -> None:
    description = (
        "Votre téléconsultation accompagnée par l'infirmière aura lieu à la Maison de santé "
        "pluriprofessionnelle. Pensez à apporter : carte Vitale, ordonnances en cours, carnet "
        "de santé de l'enfant, résultats d'analyses récents. En cas d'empêchement, prévenez "
        "le secrétariat. En cas d'urgence vitale, appelez le 15. " + "é" * 120
    )
    data = event(description=description)
    physical = data.split(b"\r\n")[:-1]
    assert max(len(line) for line in physical) == 75
    for line in physical:
        assert len(line) <= 75
        line.decode("utf-8")  # a folded piece never ends inside a multi-byte character
    continuations = [line for line in physical if line.startswith(b" ")]
    assert len(continuations) >= 6
    assert unescape(vevent(data)["DESCRIPTION"][2]) == description


def test_short_lines_are_not_folded() -> None:
    assert fold("SUMMARY:" + "a" * 67) == "SUMMARY:" + "a" * 67
    assert fold("SUMMARY:" + "a" * 68) == "SUMMARY:" + "a" * 67 + "\r\n a"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"start": dt.datetime(2026, 4, 7, 8, 30)}, "naive datetimes are refused"),
        ({"now": dt.datetime(2026, 3, 20, 9, 15)}, "naive datetimes are refused"),
        ({"end": dt.datetime(2026, 4, 7, 8, 30, tzinfo=PARIS)}, "must end after it starts"),
        ({"uid": "42\r\nATTENDEE:mailto:x@y"}, "uid must not contain line breaks"),
        ({"sequence": -1}, "SEQUENCE must not be negative"),
    ],
)
def test_bad_input_is_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        event(**overrides)


def test_attendee_is_optional() -> None:
    assert "ATTENDEE" not in vevent(event())
    props = vevent(event(attendee_email="patient@example.org", attendee_name="Jeanne Dupont"))
    assert props["ATTENDEE"][1] == {"CN": "Jeanne Dupont", "ROLE": "REQ-PARTICIPANT"}
    assert props["ATTENDEE"][2] == "mailto:patient@example.org"


@given(st.text())
def test_any_text_survives_escaping_and_folding(text: str) -> None:
    line = "DESCRIPTION:" + escape_text(text)
    folded = fold(line)
    pieces = folded.encode("utf-8").split(b"\r\n")
    assert all(len(piece) <= 75 for piece in pieces)
    unfolded = unfold(folded.encode("utf-8") + b"\r\n")
    assert len(unfolded) == 1
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    expected = "".join(ch for ch in expected if ch in "\t\n" or not (ord(ch) < 32 or ch == "\x7f"))
    assert unescape(parse_line(unfolded[0])[2]) == expected
