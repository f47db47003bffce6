"""Data files shipped with the package (province codes)."""
