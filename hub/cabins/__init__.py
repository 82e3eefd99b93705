"""Cabins at run time: the agents' WebSocket gateway (``gateway``), their presence
(``presence``), what a member of staff sees of their sites' cabins (``overview``), the
coordinator's management (``admin``) and the consoles' JSON API (``api``)."""
