"""Reports: the doctor's report and everything that carries it, above consultation and relay.

- ``models``, ``service``: the report, one row per version (draft, signed); signing freezes the
  session's measurements and renders ``pdf`` (French PDF/A-1b: styles in ``pdf_style``, archival
  parts in ``pdfa``) and ``cda``
  (CDA R2 TLM-CR), both built from ``facts`` (read from the database by ``gather``).
- ``publication``: what follows a signature: deposit in the shared record (``deposit``: only
  under a qualified identity; until then it waits, and is made when the identity is
  qualified), relay to the médecin
  traitant (``mssante``: an ``xdm`` package by secure e-mail, its submission set's
  contentTypeCode from ``content_type``; the relay doctors are
  ``hub.relay``'s), the patient's link; ``tracking``, ``transmissions``: the secretariat's
  follow-up of the relays, with the delivery and read reports that matched no relay
  (``stray_receipts``).
- ``registry``: the DMP-style shared record behind the ``DocumentSharing`` adapter (embedded
  registry) over ``hub.records.documents``; ``record_pages``: the staff's and the patient's views.
- ``view``: the report as the doctor's console shows it (its form is ``hub.consoles.report``).
- ``export``, ``fhir_export``: ``python -m hub export-consultation`` (FHIR R4B bundle claiming
  the FR Core profiles, XDM); the bundle's vital signs are ``fhir_vitals``' (a blood pressure
  panel per cuff reading), its AuditEvents ``fhir_audit``'s, their shared builders ``fhir_common``.

It gets the consultation, scheduling and records rows a report is made of from those slices'
services (``registry`` keeps the adapter, its access rules and traces; the shared record's
versioning and reads are ``hub.records.documents``'); ``tracking`` lists the relays in one
statement composed of the owning slices' pieces (``hub.<slice>.queries``). No slice below
imports it.
"""
