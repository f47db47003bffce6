"""Operations: find what failed, replay it safely, prove what happened.

Service functions used by both the CLI (``tthc-gateway messages|replay|log``) and the
admin API (scope ``ops``); each takes its dependencies as arguments and the *actor*
(the API caller's name, or ``os:<user>`` for the CLI), never reads configuration.

    OpsContext, os_actor                    gateway.ops.context       what the ops act on
    MessageFilter, list_messages,           gateway.ops.messages      find and inspect
    show_message
    replay_messages, select_parked,         gateway.ops.replay        safe replay (from the store)
    export_bundle                           gateway.ops.bundle        evidence bundles
    verify_bundle                           gateway.ops.bundle_verify offline verification
    OpsMessagePort                          gateway.ops.message_port  the API's MessagePort

The CLI commands are in :mod:`gateway.cli` (``messages``, ``replay``, ``log``); their
:class:`~gateway.ops.context.OpsContext` is built from settings by
:func:`gateway.bootstrap.build_ops`. The test scenario kit (``Scenario``,
``FakePartner``) is in :mod:`gateway.testing`.
"""

from __future__ import annotations
