"""Land-cover classification from Sentinel-1 and Sentinel-2 with active learning."""
