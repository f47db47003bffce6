"""Adapter for the city dossier system: delivery of signed inbound events."""
