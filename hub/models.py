"""Imports every slice's models so the metadata is complete (Alembic, tests)."""

from hub.audit import models as audit_models
from hub.cabins import kits as kit_models
from hub.cabins import presence as cabin_models
from hub.cabins import refusals as refusal_models
from hub.consultation import models as consultation_models
from hub.identity import models as identity_models
from hub.interop import models as interop_models
from hub.notify import models as notify_models
from hub.records import documents as document_models
from hub.records import observations as observation_models
from hub.records import patients as patient_models
from hub.relay import models as relay_models
from hub.reporting import models as reporting_models
from hub.reports import models as report_models
from hub.scheduling import models as scheduling_models

__all__ = [
    "audit_models",
    "cabin_models",
    "consultation_models",
    "document_models",
    "identity_models",
    "interop_models",
    "kit_models",
    "notify_models",
    "observation_models",
    "patient_models",
    "refusal_models",
    "relay_models",
    "report_models",
    "reporting_models",
    "scheduling_models",
]
