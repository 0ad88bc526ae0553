"""Products to analysis-ready GeoTIFFs: Sentinel-2 reflectance COGs, Sentinel-1 sigma nought."""
