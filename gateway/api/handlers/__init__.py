"""HTTP handlers, one module per tag of the contract; each ``operationId`` names one function.

Rules: a handler only plumbs HTTP: it takes the validated parameters and either calls one
flow function with a command and a fresh unit of work (the operations that write: on the
event loop, awaiting the commit's future) or calls one service port in a worker thread
(ports may block on I/O); then it renders the contract's answer. What it needs that is
not configured answers ``503 not_configured``.
"""
