"""The errors of the devices package: one root, a few precise children."""

from __future__ import annotations

__all__ = ["DeviceError", "FrameError", "ImplausibleReading", "UnknownDeviceModel"]


class DeviceError(Exception):
    """Root of every error raised on purpose by the devices package."""


class FrameError(DeviceError):
    """Bytes that do not follow the wire format (too short, reserved value, bad checksum)."""


class ImplausibleReading(DeviceError):
    """A well-formed reading whose value cannot be physiological (dropped, never stored)."""


class UnknownDeviceModel(DeviceError):
    """A model identifier that is not in the device catalogue."""
