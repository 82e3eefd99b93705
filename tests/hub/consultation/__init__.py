"""Tests of hub/consultation."""
