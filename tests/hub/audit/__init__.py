"""Tests of hub/audit."""
