"""Interoperability with outside platforms: today the SAS (Service d'Accès aux Soins).

- ``models``: API clients (a platform acting for one CPTS, identified by a bearer token stored
  as a sha256 hash, like cabin tokens), the CPTS's FINESS number the SAS knows it by, and what a
  regulator's Appointment said beyond its booking (``SasAppointment``: the regulator's
  identifier, the platform's own identifier of the appointment, the doctor's IDNPS).
- ``clients``: creating, revoking and resolving API clients; registering the FINESS.
- ``fhir``: pure FHIR R4 JSON (no I/O): search-parameter parsing, the resources of the ANS SAS
  guide's CPTS profiles (BundleAgregateurCPTS, FrSlotAgregateurCPTS...), OperationOutcome, and
  the doctors behind a room's slots (``fhir_actors``: the doctors serving the room, as
  Practitioner and PractitionerRole; the search by ``schedule.actor:Practitioner.identifier``),
  and the Appointment a regulator's booking is read from and reported as (``fhir_appointment``,
  FrAppointmentSAS). (The FHIR R4B export of a consultation is ``hub.reports.fhir_export``.)
- ``sas``: the ``/fhir`` router, its authentication and OperationOutcome errors: ``GET
  /fhir/metadata``, ``GET /fhir/Slot`` (free-slot search of flow INT_R04), ``GET /fhir/Slot/{id}``;
  ``sas_appointments``: ``POST /fhir/Appointment`` (a regulator books a slot), ``GET
  /fhir/Appointment/{id}``, ``PUT /fhir/Appointment?identifier=…`` (the regulator cancels).
  Unknown paths and methods under ``/fhir`` answer OperationOutcome too (``hub.app``).
- ``sas_slot_link``: the link a free Slot carries in the SAS search (signed for that slot) and
  the booking form it opens (``/rdv/{slug}/sas/creneau/{id}``: a SAS booking);
  ``sas_reports``: those bookings reported back to the SAS platform (FrAppointmentSAS, POST then
  PUT by conditional update) through the outbox, and the reports waiting or failed; a booking
  the secretariat moves keeps its SAS record (``carry_over``), so the new one is reported too.

Security: the real SAS platform connects with mutual TLS and IGC-Santé certificates (the ANS
guide's ``securite.md``: TLS 1.2, CN and OU checked). In production the reverse proxy in front
of the hub terminates that mTLS and only forwards ``/fhir`` requests whose client certificate it
accepted; behind it, the ``Authorization: Bearer sas_…`` token identifies which API client (and
so which CPTS) is calling. The hub itself never sees the certificate.
"""
