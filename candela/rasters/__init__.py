"""Raster plumbing: grids, reading, writing GeoTIFFs and quicklooks, acquisition times, areas of interest."""
