"""Errors a server answers, as Python exceptions."""

from __future__ import annotations

import re

import requests

INPUT_NAMED = re.compile(r"\bInput (\w+)")  # how the server names the input at fault


class ServerError(Exception):
    """A request the server refused, or a job that failed: its OGC exception ``code``
    (``JobFailed`` or ``JobDismissed`` for a job), the ``locator`` (the input at fault, when
    the server names one), the server's ``message`` and the HTTP ``status``."""

    def __init__(self, code: str, message: str, locator: str | None = None, status: int | None = None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status
        named = INPUT_NAMED.search(message or "")
        self.locator: str | None = locator or (named.group(1) if named else None)


def raise_for(response: requests.Response) -> None:
    """Raise the ServerError of an HTTP ``response`` that is not a success: an OGC API
    exception (JSON), a WPS ``ExceptionReport`` (XML), or the status and the text."""
    if response.ok:
        return
    if response.content.lstrip()[:1] == b"<":
        from .wpsxml import exception_report

        error = exception_report(response.content, response.status_code)
        if error is not None:
            raise error
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = body.get("code") or body.get("type") or f"HTTP {response.status_code}"
    message = body.get("description") or response.text[:300] or response.reason
    raise ServerError(code, message, body.get("locator"), response.status_code)
