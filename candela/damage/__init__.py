"""Parcel damage ranking: which forest parcels a windthrow (or any change) hit hardest.

Change probability maps (optical, SAR, on any grid) are summarised per parcel with exact
fractional pixel coverage (exactextract), over the pixels of the kept land-cover classes,
combined across sources, scored, ranked and given a CANDELA damage level:

- :mod:`.levels`: the damage levels and their bounds (no heavy imports);
- :mod:`.sources`: the change sources, their weights and change periods;
- :mod:`.landcover`: class names of a land-cover map, the kept classes, masked copies;
- :mod:`.zonal`: per-parcel statistics of one raster, in ground areas;
- :mod:`.ranking`: the whole run: parcels in, ranking table and summary out;
- :mod:`.quicklook` and :mod:`.writing`: the map and the files clients open.
"""
