"""Adapter for the online payment platform of the national portal (PayGov, message set 1.0.6)."""
