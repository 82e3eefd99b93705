"""Scheduling: opening rules, slots and the free-slot search (``slots``, pure ``calendar``),
booking a seat of a slot (``booking``; for the booking service, the slot's free seat read as
plain values, ``open_seats``), what happens to a booking once made — moved, cancelled,
confirmed, not honoured, merged into another patient record (``changes``) —, the waiting list
(``waiting_list``), finding bookings and a patient's history (``lookups``), one booking in one
transaction (``book``), what the messages about a booking say, built without I/O (``notices``)
and their queueing (``messages``), eligibility screening (``eligibility``), the booking forms
declared once (``forms``), the CPTS's booking policy and the checks of its form (``policy``),
the day shown on the online booking page (``booking_days``), and the reads of bookings for the
slices above (``queries``)."""
