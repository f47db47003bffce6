"""Mock of the city dossier system: receives the gateway's signed events, exactly once."""
