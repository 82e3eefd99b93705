"""Stethoscope and otoscope media as aiortc tracks: synthetic sources and real capture."""
