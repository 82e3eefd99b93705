"""Records: what is kept about patients and their care, and who touched it.

- ``patients``, ``patient_service``, ``ins``: patients, their INS identity traits and status.
- ``observations``: measurements from the cabins, stored exactly once.
- ``reports``, ``report_service``: the doctor's report, one row per version (draft, signed);
  signing freezes the session's measurements and renders ``report_pdf`` (French PDF, styles in
  ``pdf_style``) and ``cda`` (CDA R2 TLM-CR), both built from ``facts`` (read from the
  database by ``report_facts``).
- ``publication``: what follows a signature: deposit, relay to the médecin traitant (through
  ``hub.relay``), the patient's link.
- ``documents``, ``registry``: the DMP-style shared record behind the ``DocumentSharing``
  adapter (embedded registry); ``pages``, ``patient_links``: the staff's and the patient's views.
- ``export``: ``python -m hub export-consultation``.
- ``audit``, ``models``: the append-only audit trail, sealed in a hash chain.
"""
