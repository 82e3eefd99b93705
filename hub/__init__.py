"""The central hub: a FastAPI service that books slots, runs consultations and keeps records.

One sub-package per domain ("vertical slice"), each owning its models, services and routes:
`identity/` (organisations, sites, users, roles, login, cabin tokens), `cabins/` (the cabin
agents' WebSocket gateway and their presence), `records/` (audit trail), `wire/` (versioned
messages shared with the cabin agent). `app.py` is the factory, `config.py` the settings,
`db.py` the database plumbing, `errors.py` the error hierarchy, `__main__.py` the CLI,
`listening.py` the sockets ``serve`` binds before it loads the application.
"""
