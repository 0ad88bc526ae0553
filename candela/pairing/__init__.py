"""Pairing images for change detection: by place (overlapping footprints) and by time."""
