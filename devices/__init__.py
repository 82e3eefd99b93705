"""Talking to medical devices, and nothing else.

Pure protocol code (bytes in, typed values out), drivers written against small transport
Protocols, the device catalogue, and simulators that speak the real bytes. This package
imports nothing from the rest of the project.
"""
