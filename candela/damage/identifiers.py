"""Which attribute names a parcel (light: the process declaration lists the candidates)."""

import math

from ..errors import InputError

#: Attributes tried, in order, as a parcel's own identifier when none is named.
ID_FIELDS = ("parcel_id", "parcel", "id", "fid", "name", "nazwa", "oddzial")


def parcel_ids(table, id_field=None, position="feature"):
    """Each parcel's identifier: the attribute ``id_field``, else the first of :data:`ID_FIELDS`
    present, else its position in the input (column ``position``: ``#1``, ``#2``, ...)."""
    names = {str(c).casefold(): c for c in table.columns if c != table.geometry.name}
    if id_field and id_field.casefold() not in names:
        have = ", ".join(map(str, names.values()))
        raise InputError(f"the parcels have no attribute {id_field!r} (they have: {have})", "id_field")
    field = names[id_field.casefold()] if id_field else next((names[f] for f in ID_FIELDS if f in names), None)
    if field is None:
        return [f"#{int(n) + 1}" for n in table[position]]
    return [f"#{int(n) + 1}" if v is None or (isinstance(v, float) and math.isnan(v)) or str(v) in ("", "<NA>")
            else str(v) for v, n in zip(table[field], table[position])]
