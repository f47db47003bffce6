"""Messaging: how signed envelopes travel from the outbox to the workers, at least once.

- :mod:`.port` the ``Transport`` protocol, ``Delivery``, ``Disposition``, ``ParkedMessage``,
  ``RetryPolicy`` and the transport errors;
- :mod:`.rabbitmq` the RabbitMQ transport (pika stays inside it);
- :mod:`.embedded` the same semantics on the SQL database (no broker configured);
- :mod:`.relay` the outbox relay; :mod:`.worker` the consumer that verifies, deduplicates,
  handles and records; :mod:`.batch_timeline` batched timeline writes for the worker;
- :mod:`.codec` and :mod:`.consuming` pure helpers shared by the transports.
"""
