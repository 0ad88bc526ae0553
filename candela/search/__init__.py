"""Searching damage observations."""

from .query import LEVELS, SearchQuery

__all__ = ["LEVELS", "SearchQuery"]
