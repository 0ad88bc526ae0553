"""Helpers shared by tests: test-only processes and a test server."""
