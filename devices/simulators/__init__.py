"""Simulated devices that speak the real bytes: BLE peripherals on bumble's emulated
controller, serial oximeters on pseudo-terminals."""
