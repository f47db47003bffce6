"""The chaos suite's parts: the real processes, the load, the faults, the counts.

- :mod:`.stack`: ``tthc-gateway mocks``, two ``serve`` and two ``worker`` subprocesses on
  RabbitMQ and PostgreSQL (a schema and a topology prefix of their own), killed and
  restarted on demand;
- :mod:`.load`: the city system, the portal and the payment platform as clients, retrying
  with the same ``Idempotency-Key`` on connection errors and 5xx;
- :mod:`.faults`: one injector per case; :mod:`.services` restarts the shared RabbitMQ and
  PostgreSQL (always restoring them); :mod:`.cluster` runs a three-node RabbitMQ cluster;
- :mod:`.observe`: every count is taken at the mocks (``/_mock/requests``, ``/_mock/state``)
  and, for parked messages, from the admin API and the ``parked`` queue;
- :mod:`.runner`: one case from start to verdict, and the results table.

Rules: every wait has a timeout, every loop is bounded, all traffic goes to 127.0.0.1.
"""
