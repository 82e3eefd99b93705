"""Identity: organisations (CPTS), sites, cabins and their agent tokens, staff users and roles,
login with throttling, browser sessions (``models``, ``service``, ``security``), and the access
policy (``policy``: who may do what, and which permission each route needs). ``queries``:
the statement pieces over sites and cabins that other slices compose into their own queries.

Ground floor: it imports audit, db, errors and limits (login failures in Redis) only. Its
pages (login, the role homes) are ``hub.consoles``'s; the request dependencies that resolve the
signed-in user are ``hub.deps``.
"""
