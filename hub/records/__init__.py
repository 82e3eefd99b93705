"""Records: what is kept about patients, below every slice that serves them.

- ``patients``, ``patient_service``, ``ins``, ``vigilance``: patients, their INS identity traits
  and status, probable duplicates and identities pending a decision; ``rpps``: a health
  professional's RPPS number (the médecin traitant's is kept with the patient).
- ``insi_identity``: an identity returned by the national INSi teleservice stored on the patient
  (INS, INSi's OID and traits; ``récupérée``).
- ``observations``: measurements from the cabins, stored exactly once.
- ``documents``: the rows of the DMP-style shared record, their versioning and reads
  (``hub.reports.registry`` is its adapter, with the access rules and traces), and their
  reassignment when two patient records are merged.
- ``queries``: the statement pieces over patients that other slices compose (a booking reads
  its patient with its slot in one statement).
- ``patient_links``: the patient's signed links to their record.

It imports identity, audit, notify and insi only; the report, its documents and the pages built on
these records are ``hub.reports``'s.
"""
