"""Device drivers written against the transport Protocols of `devices.transports`."""
