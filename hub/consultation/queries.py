"""Statement pieces over the consultations table that the slices above compose into their own
queries (the report relays' follow-up lists a relay with its consultation's site and patient in
one statement): the consultation slice knows its table, the caller composes."""

from __future__ import annotations

from sqlalchemy import Subquery, select

from hub.consultation.models import Consultation


def consultation_places() -> Subquery:
    """The consultations as a subquery of where and for whom they were: ``id``, ``site_id``,
    ``patient_id``."""
    return select(Consultation.id, Consultation.site_id, Consultation.patient_id).subquery(
        "consultation_places"
    )
