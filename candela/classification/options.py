"""What a classification may be asked for: light constants, importable without scikit-learn
(a server declares the process long before any classifier is needed)."""

#: Fusion kinds (see :mod:`.model`).
FUSIONS = ("features", "decision", "optical", "sar")
SAR_UNITS = ("auto", "linear", "dB")
MAX_IMAGES = 12
DEFAULT_SUGGESTIONS = 20
MAX_SUGGESTIONS = 1000
