"""The port the gateway delivers inbound events to the city dossier system through.

:class:`~adapters.city.client.CityClient` (``POST {base}/events``, ``contracts/city/``)
implements it; the composition root builds that one, and tests may pass any other object
with the same method (a fake city). The worker's handlers depend on this Protocol, never
on the client.

Errors (all from :mod:`gateway.domain.errors`): ``InvalidInput`` before anything is sent;
``UpstreamTimeout`` / ``UpstreamUnavailable`` (transient: the queue retries) and
:class:`~adapters.city.client.CityRefused` (``UpstreamRejected``) / ``UpstreamMalformed``
(permanent: the message is parked) after. A duplicate is a success (``Delivery``).
"""

from __future__ import annotations

from typing import Protocol

from adapters.city.client import CityEvent, Delivery


class CityDossierSystem(Protocol):
    def deliver(self, event: CityEvent, dossier_code: str = "") -> Delivery:
        """Deliver one signed event; ``accepted``, or ``duplicate`` when the city had it."""
        ...
