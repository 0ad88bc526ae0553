"""Vector layers (samples, parcels): read from user files with checks, and written for clients."""
