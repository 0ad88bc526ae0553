"""Searching damage observations: the query, and its WPS literals."""

from .literals import from_literals
from .query import LEVELS, SearchQuery

__all__ = ["LEVELS", "SearchQuery", "from_literals"]
