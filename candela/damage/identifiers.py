"""Which attribute names a parcel (light: the process declaration lists the candidates)."""

import math

from ..errors import InputError

#: Attributes tried, in order, as a parcel's own identifier when none is named.
ID_FIELDS = ("parcel_id", "parcel", "id", "fid", "name", "nazwa", "oddzial")


def id_column(columns, id_field=None):
    """The column naming parcels among ``columns``: ``id_field`` (any case; an InputError
    naming ``id_field`` when absent), else the first of :data:`ID_FIELDS` present, else None."""
    names = {str(c).casefold(): c for c in columns if c != "geometry"}
    if id_field:
        if id_field.casefold() not in names:
            have = ", ".join(map(str, names.values())) or "none"
            raise InputError(f"the parcels have no attribute {id_field!r} (they have: {have})", "id_field")
        return names[id_field.casefold()]
    return next((names[f] for f in ID_FIELDS if f in names), None)


def parcel_ids(table, id_field=None, position="feature"):
    """Each parcel's identifier: its value in :func:`id_column`, else its position in the input
    (column ``position``: ``#1``, ``#2``, ...) where it has none."""
    field = id_column(table.columns, id_field)
    values = table[field] if field is not None else [None] * len(table)
    return [_text(value) or f"#{int(n) + 1}" for value, n in zip(values, table[position])]


def _text(value):
    """An identifier as text; None when missing or blank. A whole float is written as an
    integer (a column of integers with a gap is read as floats: 12.0 is parcel 12)."""
    if value is None or str(value) in ("<NA>", "NaT"):
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    return str(value).strip() or None
