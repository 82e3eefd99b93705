"""Consultation: the session state machine (``models``, ``service``), the room's checks before
the doctor (``checks``: identity, consent, pre-consultation), the identity review that may merge
two patient records (``identity_review``: bookings, consultations and shared documents move
through their slices' service functions), media signalling (``media``), the Janus VideoRoom of
a consultation with more than two parties (``sfu``), and the live events pushed to the
consoles (``hub.events``). The consoles that drive a session are
``hub.consoles.teleconsultation``'s; the doctor's report is ``hub.reports``'s."""
