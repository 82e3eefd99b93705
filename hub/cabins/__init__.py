"""Cabins at run time: the agents' WebSocket gateway (``gateway``) and their presence (``presence``)."""
