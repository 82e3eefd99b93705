"""Stethoscope and otoscope media as aiortc tracks: synthetic sources and real capture, a
captured video adapted to a quality, and one source shared by several consumers (``fanout``)."""
