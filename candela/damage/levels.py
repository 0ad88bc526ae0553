"""The CANDELA damage levels of a parcel, from its combined damaged fraction.

Importable without geopandas or exactextract: the search of results filters by level.
"""

import math

#: ``(level, upper bound)``: a damaged fraction below the bound (and at or above the
#: previous one) has that level; the last level takes everything up to 1.
LEVELS = (("very low", 0.1), ("low", 0.3), ("middle", 0.6), ("high", math.inf))
#: The level names, from the least damaged to the most.
LEVEL_NAMES = tuple(name for name, _ in LEVELS)


def level_of(fraction):
    """The level of a damaged ``fraction`` in [0, 1]; None when it is unknown (None or NaN)."""
    if fraction is None or math.isnan(fraction):
        return None
    return next(name for name, bound in LEVELS if fraction < bound)


def bounds():
    """The levels as JSON-ready data: ``{level: [from, below]}`` (``below`` null for the last)."""
    lower, found = 0.0, {}
    for name, bound in LEVELS:
        found[name] = [lower, None if math.isinf(bound) else bound]
        lower = bound
    return found
