"""Records: for now the audit trail (``audit.record_event``).

Patients, reports and the shared record will live here too."""
