"""Scheduling: opening rules and slots (``slots``, pure ``calendar``), bookings, cancellations,
no-shows and the waiting list (``booking``), one booking in one transaction (``book``),
eligibility screening (``eligibility``), the booking forms declared once (``forms``)."""
