"""Helpers shared by tests: paths and test configurations, WPS requests and schema checks,
synthetic images, forked children for TensorFlow, test-only processes, and test servers."""
