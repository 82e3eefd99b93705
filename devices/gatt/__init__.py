"""Bluetooth GATT characteristics: frozen values with `parse(bytes)` and `bytes(x)`.

One module per service (`blood_pressure`, `thermometer`, `plx`, ...) beside the shared ones
(`time`, `racp`, `device_information`). Each final reading's value type converts itself to
measurements (`to_measurements`, beside its `parse`). Which characteristics a device model
uses, and the parser of each, is the device registry's business:
`devices.catalogue.GATT_PARSERS_BY_UUID` maps a 16-bit UUID to its parser.
"""
