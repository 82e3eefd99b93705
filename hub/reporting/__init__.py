"""CPTS indicators: what the coordinator reports each year to the funders.

``indicators`` defines the indicators and assembles them (per site and for the whole CPTS)
from the counts of ``aggregates`` (a statement over the period's facts, one narrow row per
consultation done, and one for the medians) and ``booking_counts`` (its bookings, by the
covering index ``models`` declares on them on SQLite, in one scan on PostgreSQL), and the
lookups of ``queries``. ``facts``
defines those facts (``models.ConsultationFact``) as a view joining the other slices' tables,
and the database triggers that keep them equal to it in the same transaction as every write;
``charts`` draws the indicators as server-side SVG; ``exports`` turns them into figures and
writes the CSV, the JSON and the yearly activity report's PDF, masking small counts; ``models``
and ``inputs`` keep the coordinator's inputs to that report (initial value, target,
commentary); ``pages`` serves the coordinator's dashboard and yearly report; ``cli`` prints the
indicators for scripts, and rebuilds the facts.

A read-only aggregate reader: unlike the other slices, it reads other slices' tables directly
(SELECTs only, never a write to them: its triggers write its own facts table), which is why it
sits above all of them in the layers contract and no slice imports it;
tests/test_architecture.py lets it, and no other slice, do so.
"""
