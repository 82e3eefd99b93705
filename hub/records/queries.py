"""Statement pieces over the records' patient table that other slices compose into their own
queries, where one SQL statement was measured much faster than a query per slice (a booking
reads its slot, site, seats and patient at once: ``bench/booking.py``). The records slice knows
its table, the caller composes; none of these runs a query (``patient_service``'s calls do).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, Subquery, select

from hub.records.patients import Patient


def with_patient(query: Select, patient_id: ColumnElement[int]) -> Select:  # type: ignore[type-arg]
    """``query`` with one more column: the patient whose id is ``patient_id`` (a bound
    parameter), or None when there is none (an outer join)."""
    return query.add_columns(Patient).outerjoin(Patient, Patient.id == patient_id)


def with_contact(query: Select, patient_id: ColumnElement[int]) -> Select:  # type: ignore[type-arg]
    """``query`` with four more plain columns: the id, CPTS, phone and e-mail of the patient
    whose id is ``patient_id`` (a bound parameter), all None when there is none."""
    return query.add_columns(
        Patient.id, Patient.organisation_id, Patient.phone, Patient.email
    ).outerjoin(Patient, Patient.id == patient_id)


def patient_names() -> Subquery:
    """The patients as a subquery of the columns a listing shows: ``id``, ``birth_name``,
    ``first_names``."""
    return select(Patient.id, Patient.birth_name, Patient.first_names).subquery("patient_names")
