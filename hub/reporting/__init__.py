"""CPTS indicators: what the coordinator reports each year to the funders.

``indicators`` defines the indicators and assembles them (per site and for the whole CPTS)
from the counts of ``aggregates`` (one read-only statement over the period's consultations
done) and ``booking_counts`` (its bookings), both reading the other slices' tables through the
covering indexes ``models`` declares on them, and the lookups of ``queries``; ``charts`` draws
them as server-side SVG; ``exports`` turns them into figures and writes the CSV, the JSON and
the yearly activity report's PDF, masking small counts; ``models``
and ``inputs`` keep the coordinator's inputs to that report (initial value, target,
commentary); ``pages`` serves the coordinator's dashboard and yearly report; ``cli`` prints the
indicators for scripts.

A read-only aggregate reader: unlike the other slices, it reads other slices' tables directly
(SELECTs only, never a write), which is why it sits above all of them in the layers contract
and no slice imports it; tests/test_architecture.py lets it, and no other slice, do so.
"""
