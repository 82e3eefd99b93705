"""Tests of hub/cabins."""
