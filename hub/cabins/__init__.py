"""Cabins at run time: the agents' WebSocket gateway (``gateway``), their presence
(``presence``), the coordinator's management (``admin``) and the consoles' JSON API (``api``)."""
