"""The gateway's flows: commands and the plain functions that handle them; wired by
:mod:`gateway.bootstrap`.

A flow function takes a command (a frozen dataclass), a unit of work
(``gateway.store.repositories.UnitOfWork``) and the ports it needs, and returns its result
(a future of it, for the API's event loop). Flows use no HTTP types and write no SQL;
they import nothing from ``gateway.api``.

    QueueDossierSync, QueueProgress, AcceptPortalPush  gateway.flows.dossiers
    ConfirmPayment; INIT, status, reconciliation       gateway.flows.payments
    the Idempotency-Key port of the API's middleware   gateway.flows.idempotency
    signed envelopes, derived ids, compact JSON         gateway.flows.acceptor
    the API's other ports (Protocols) and bundles       gateway.flows.ports, .api_ports
    citizens, documents (partner pass-throughs)         gateway.flows.citizens, .documents
    portal push authentication                          gateway.flows.portal_push
    what consuming each message type does (workers)     gateway.flows.delivery
"""
