"""Tests of hub/wire."""
