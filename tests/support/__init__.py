"""Test infrastructure: a throw-away PostgreSQL cluster, a live hub server, page helpers, and the
validators of generated documents (CDA through the ANS kit, FHIR through published profiles)."""
