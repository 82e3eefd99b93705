"""Talking to medical devices, and nothing else.

Pure protocol code (bytes in, typed values out), drivers written against small transport
Protocols, the device catalogue, and simulators that speak the real bytes. This package
imports nothing from the rest of the project.

Protocol layer (pure, no I/O):

- `devices.errors`: `DeviceError` and its children (`FrameError`, `ImplausibleReading`...).
- `devices.ieee11073`: IEEE 11073-20601 SFLOAT / FLOAT with their special values.
- `devices.gatt`: GATT health characteristics (blood pressure, thermometer, pulse oximeter,
  record access control point, date/current time, device information, UUID tables).
- `devices.serialproto`: incremental framers for serial oximeters (Contec CMS50D+, Nonin).
- `devices.measurements`: the `Measurement` value, LOINC/UCUM, plausibility limits.
- `devices.catalogue`: the table of supported device models.
- `devices.cli`: `python -m devices decode PROFILE HEX` and `simulate`.
"""
