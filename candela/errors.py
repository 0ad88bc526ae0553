"""Errors whose messages are safe to show to the user who sent the data."""


class InputError(ValueError):
    """The data given cannot be used; the message says why, without server paths."""
