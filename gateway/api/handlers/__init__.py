"""HTTP handlers, one module per tag of the contract; each ``operationId`` names one function.

Rules: a handler only plumbs HTTP: it takes the validated parameters, calls one service
port in a worker thread (ports may block on I/O), and returns the contract's answer. A
port that is not configured answers ``503 not_configured``.
"""
