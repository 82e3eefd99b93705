"""Consoles: the pages each role works in, composed from the slices below them.

- ``login``: login, logout, and where each role lands (``ROLE_HOME``).
- ``coordinator``, ``secretary``, ``nurse``, ``facility``, ``doctor``: the role home pages (the
  coordinator's saves the booking policy's form; the secretary's desk also finds and registers
  callers and books them by phone); ``staff`` what the staff's pages share.
- ``room_console``: the room's console (nurse or facility staff); ``doctor_console``: the
  doctor's; ``consultation_console``: what both share (the console page, ``Call``: the request
  each of their actions runs in); ``console_api``: what their scripts call (live events,
  measurements, captures); ``vitals``: their vitals monitor and history by reading; ``kit``:
  the mobile kit taken for a session, shown with the site's cabins; ``report``: the report form
  in the doctor's console; ``guests``: the third parties the doctor invites, and the guest's
  page.
- ``referrals``: referring a patient to a relay doctor from the room or the secretary's desk.
- ``identity_desk``: the secretariat's pending identities, probable duplicates, and a
  patient's identity checked with INSi (through the room's calls).
- ``booking_move``: the secretariat moves a booking to another slot (a SAS booking keeps its
  SAS record, reported again to the platform).

Top floor: no slice imports a console.
"""
