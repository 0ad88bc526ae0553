"""Searching damage observations: the query, its WPS literals, and the phrase grammar of the search page."""

from .literals import from_literals
from .phrase import describe, parse
from .query import LEVELS, SearchQuery

__all__ = ["LEVELS", "SearchQuery", "describe", "from_literals", "parse"]
