"""Data sets: the OSCD change detection data set, and synthetic Sentinel-2 and Sentinel-1 products."""
