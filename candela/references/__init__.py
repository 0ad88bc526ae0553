"""References to inputs: server paths under data roots, and http(s) URLs downloaded under a host policy and limits."""
