"""Tests of hub/identity."""
