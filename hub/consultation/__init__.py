"""Consultation: the session state machine (``states``, ``service``), the nurse's and the
doctor's consoles (``pages``), and the live events pushed to them (``hub.events``)."""
