"""Identity: organisations (CPTS), sites, cabins and their agent tokens, staff users and roles,
login/logout with throttling, browser sessions. ``service`` holds the functions, ``pages`` the
login and per-role home pages."""
