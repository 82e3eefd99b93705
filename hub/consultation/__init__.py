"""Consultation: the session state machine (``models``, ``service``), the room's checks before
the doctor (``checks``: identity, consent, pre-consultation; ``insi_query``: the room's
"Interroger INSi"), the identity review that may merge
two patient records (``identity_review``: bookings, consultations and shared documents move
through their slices' service functions), the consultation's cabins — its site's and the
mobile kit taken for the session (``cabins``) — media signalling (``media``), the Janus VideoRoom of
a consultation with more than two parties (``sfu``), the third parties the doctor invites into it
(``guests``; the guest's one-time link: ``guest_link``; rooms nobody closed, closed by the
periodic jobs: ``idle_rooms``), and the live events pushed to the
consoles (``hub.events``); ``queries``: the statement piece over consultations the reports
compose. The consoles that drive a session are ``hub.consoles``' (``room_console``,
``doctor_console``); the doctor's report is ``hub.reports``'s."""
