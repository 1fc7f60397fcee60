"""The admin console: server-rendered pages (Jinja2 + vendored htmx + SSE) in the hub's app.

Accounts (argon2 password hashes, cookie logins with CSRF tokens), the live board, alarms with
their timelines, the visit planner and visit records, the building register and the event log.
``console.mount.mount_console`` adds it to the API's FastAPI app.
"""
