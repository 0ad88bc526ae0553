"""Algorithms of the CANDELA-style Earth-observation processing server.

Usable on its own (notebooks, command line, tests): nothing here knows about PyWPS.
"""

__version__ = "0.1.0"
