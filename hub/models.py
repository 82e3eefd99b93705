"""Imports every slice's models so the metadata is complete (Alembic, tests)."""

from hub.identity import models as identity_models
from hub.records import models as records_models

__all__ = ["identity_models", "records_models"]
