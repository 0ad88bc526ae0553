"""Change detectors: ChangeDetect on optical pairs, SAR time series tests, and figures of merit."""
