"""The RFC 3161 time-stamping authority mock (see :mod:`mocks.tsa.app`)."""
