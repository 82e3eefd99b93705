"""Scheduling: opening rules and slots (``slots``, pure ``calendar``), bookings, cancellations,
no-shows and the waiting list (``booking``), eligibility screening (``eligibility``)."""
