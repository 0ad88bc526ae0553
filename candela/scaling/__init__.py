"""Scaling decisions: how many workers the load wants (the monitor's pure core)."""
