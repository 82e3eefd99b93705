"""Consoles: the pages each role lands on, composed from the slices below them.

- ``login``: login, logout, and where each role lands (``ROLE_HOME``).
- ``coordinator``, ``secretary``, ``nurse``, ``facility``: the role home pages (the secretary's
  desk also finds and registers callers and books them by phone); ``staff`` what they share.
- ``referrals``: referring a patient to a relay doctor from the room or the secretary's desk.
- ``identity_desk``: the secretariat's pending identities and probable duplicates.

The doctor's and the room's consoles live with the session they drive (``hub.consultation``).
Top floor: no slice imports a console.
"""
