"""Consultation: the session state machine (``models``, ``service``), the room's checks before
the doctor (``checks``: identity, consent, pre-consultation), the nurse's and the doctor's
consoles (``pages``), the report in the doctor's console (``report_pages``, ``report_view``),
media signalling (``media``), and the live events pushed to the consoles (``hub.events``)."""
