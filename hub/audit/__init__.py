"""Audit: the append-only trail of who did what, to what, from where, and whether it was allowed.

- ``models``: ``AuditEvent``, one row per event.
- ``service``: ``record_event`` and ``trace_read`` (every access to patient data is traced), the
  French labels of the actions, the hash chain that seals the events (``seal_pending``,
  ``verify_chain``).

Ground floor: it imports no slice; every slice records its events here.
"""
