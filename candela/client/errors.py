"""Errors a server answers, as Python exceptions."""

import re

INPUT_NAMED = re.compile(r"\bInput (\w+)")  # how the server names the input at fault


class ServerError(Exception):
    """A request the server refused, or a job that failed: its OGC exception ``code``, the
    ``locator`` (the input at fault, when the server names one) and the server's ``message``."""

    def __init__(self, code, message, locator=None, status=None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status
        named = INPUT_NAMED.search(message or "")
        self.locator = locator or (named.group(1) if named else None)


def raise_for(response):
    """Raise the ServerError of an HTTP ``response`` that is not a success."""
    if response.ok:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    code = body.get("code") or body.get("type") or f"HTTP {response.status_code}"
    message = body.get("description") or response.text[:300] or response.reason
    raise ServerError(code, message, body.get("locator"), response.status_code)
