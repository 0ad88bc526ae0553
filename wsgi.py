"""WSGI application (work in progress)."""
