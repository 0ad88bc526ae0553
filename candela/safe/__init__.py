"""SAFE products, zipped or as folders: one container and XML layer, and the Sentinel-2 and
Sentinel-1 readers on it; safe unzipping."""
