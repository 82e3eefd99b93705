"""Tests of hub/reports."""
