"""Operations: find what failed, replay it safely, prove what happened.

Service functions used by both the CLI (``tthc-gateway messages|replay|log``) and the
admin API (scope ``ops``); each takes its dependencies as arguments and the *actor*
(the API caller's name, or ``os:<user>`` for the CLI), never reads configuration.

    OpsContext / open_context(settings)     gateway.ops.context       wiring for the CLI
    MessageFilter, list_messages,           gateway.ops.messages      find and inspect
    show_message
    replay_messages, select_parked,         gateway.ops.replay        safe replay (from the store)
    export_bundle                           gateway.ops.bundle        evidence bundles
    verify_bundle                           gateway.ops.bundle_verify offline verification
    OpsMessagePort                          gateway.ops.message_port  the API's MessagePort
    OpsService                              gateway.ops.service       facade (export, verify)
    register(app)                           gateway.ops.cli           the CLI commands
    Scenario, FakePartner                   gateway.ops.testing       test scenario kit
"""

from __future__ import annotations
