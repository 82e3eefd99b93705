"""Cabins at run time: the agents' WebSocket gateway (``gateway``), commands and media
signalling sent to the worker holding a cabin's WebSocket (``routing``), the measurements it
receives (``intake``), their presence (``presence``), what the gateway tells the consoles live
(``live``: cabin status, observation stored), what a member of staff sees of their sites'
cabins (``overview``), the coordinator's management (``admin``), refused measurements counted
(``refusals``), the CPTS's mobile kits lent to another site's session (``kits``), the
consoles' JSON API (``api``), the agents' token checks and hellos batched into few
transactions (``hellos``) and the live links' last-seen written through in one pass
(``liveness``), so that a heartbeat does no database work."""
