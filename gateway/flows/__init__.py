"""Application services: the gateway's flows, wired by :mod:`gateway.bootstrap`."""
