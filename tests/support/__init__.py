"""Test infrastructure: a throw-away PostgreSQL cluster, a live hub server, page helpers."""
