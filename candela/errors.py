"""Errors whose messages are safe to show to the user who sent the data."""

from contextlib import contextmanager


class InputError(ValueError):
    """The data given cannot be used; the message says why, without server paths.

    ``input`` names the input at fault when a function takes several (``before``/``after``)
    or parameters (``alpha``, ``enl``, ...): the one way the core blames an input.
    """

    def __init__(self, message, input=None):
        super().__init__(message)
        self.input = input

    def __reduce__(self):
        return type(self), (str(self), self.input)


@contextmanager
def blaming(identifier):
    """InputErrors raised inside the block that name no input are blamed on ``identifier``."""
    try:
        yield
    except InputError as error:
        if error.input is None:
            error.input = identifier
        raise
