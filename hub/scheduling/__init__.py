"""Scheduling: opening rules, slots and the free-slot search (``slots``, pure ``calendar``),
bookings, cancellations, no-shows and the waiting list (``booking``), one booking in one
transaction (``book``), eligibility screening (``eligibility``), the booking forms declared once
(``forms``), the CPTS's booking policy and the checks of its form (``policy``), the day shown
on the online booking page (``booking_days``), and the reads of bookings for the slices above
(``queries``)."""
