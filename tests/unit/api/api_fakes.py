"""Fakes and helpers for the API tests: one fake backend serving every port, spec examples.

The fake answers each port call with the contract's own example for that operation
(so response validation checks them), records every call with its context, and can be
told to raise for one method.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from concurrent.futures import Future
from functools import cache
from typing import Any

from gateway.api.app import HTTP_METHODS, load_spec
from gateway.api.services import ApiKey
from gateway.flows.ports import CallContext

CITY_KEY = "demo-city-key"
OPS_KEY = "demo-ops-key"
LIMITED_KEY = "limited-key"


def api_keys() -> list[ApiKey]:
    def digest(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    return [
        ApiKey(
            "city-one-stop",
            digest(CITY_KEY),
            frozenset({"dossiers", "citizens", "payments", "documents"}),
        ),
        ApiKey("operator", digest(OPS_KEY), frozenset({"ops"})),
        ApiKey("citizens-only", digest(LIMITED_KEY), frozenset({"citizens"})),
    ]


@cache
def spec() -> dict[str, Any]:
    return load_spec()


def resolve(node: Any) -> Any:
    while isinstance(node, dict) and str(node.get("$ref", "")).startswith("#/"):
        target: Any = spec()
        for token in node["$ref"][2:].split("/"):
            target = target[token]
        node = target
    return node


def example_of(content: Mapping[str, Any]) -> Any:
    media = next(iter(content.values()))
    if "example" in media:
        return media["example"]
    return resolve(next(iter(media["examples"].values())))["value"]


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, item in spec()["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                found.append((path, method, item[method]))
    return found


def api_key_operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(p, m, op) for p, m, op in operations() if "security" not in op]


def concrete_path(path: str, operation: Mapping[str, Any]) -> str:
    for parameter in operation.get("parameters", []):
        parameter = resolve(parameter)
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", str(parameter["example"]))
    return path


def request_example(operation: Mapping[str, Any]) -> Any:
    if "requestBody" not in operation:
        return None
    return example_of(resolve(operation["requestBody"])["content"])


def success_example(operation: Mapping[str, Any]) -> tuple[int, Any]:
    for status, response in operation["responses"].items():
        if status != "default" and int(status) < 300:
            content = resolve(response).get("content", {})
            if "application/pdf" in content:
                return int(status), b"%PDF-1.4\n%fake receipt for tests\n%%EOF\n"
            return int(status), example_of(content)
    raise AssertionError("no success response")


PORT_METHODS = {
    "dossiers.sync_dossier": ("dossiers", "sync_dossier"),
    "dossiers.push_progress": ("dossiers", "push_progress"),
    "dossiers.portal_status": ("dossiers", "portal_status"),
    "procedures.get_procedure": ("procedures", "get_procedure"),
    "citizens.lookup_citizen": ("citizens", "lookup"),
    "citizens.verify_citizen": ("citizens", "verify"),
    "payments.create_payment": ("payments", "create"),
    "payments.get_payment": ("payments", "status"),
    "payments.get_receipt": ("payments", "receipt"),
    "documents.search_documents": ("documents", "search"),
    "documents.fetch_document": ("documents", "fetch"),
    "messages.get_message": ("messages", "status"),
    "admin.list_messages": ("messages", "search"),
    "admin.get_message_detail": ("messages", "detail"),
    "admin.replay_message": ("messages", "replay"),
    "admin.bulk_replay": ("messages", "bulk_replay"),
    "callbacks.portal_dossier_submitted": ("callbacks", "portal_dossier_submitted"),
    "callbacks.payment_confirmed": ("callbacks", "payment_confirmed"),
}


class FakeBackend:
    """Serves every port; answers with the contract's examples unless told otherwise.

    ``calls`` records ``("group.method", args, ctx)``; ``errors["group.method"]`` makes
    that method raise; ``answers["group.method"]`` replaces its answer.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], CallContext]] = []
        self.answers: dict[str, Any] = {}
        self.errors: dict[str, BaseException] = {}
        self.reset()

    def reset(self) -> None:
        self.calls.clear()
        self.errors.clear()
        self.answers.clear()
        for _, _, operation in operations():
            short = operation["operationId"].removeprefix("gateway.api.handlers.")
            if short in PORT_METHODS:
                group, method = PORT_METHODS[short]
                self.answers[f"{group}.{method}"] = success_example(operation)[1]

    def port(self, group: str) -> FakePort:
        return FakePort(self, group)

    def answer(self, name: str, args: tuple[Any, ...], ctx: CallContext) -> Any:
        self.calls.append((name, args, ctx))
        if name in self.errors:
            raise self.errors[name]
        return self.answers[name]


class FakePort:
    def __init__(self, backend: FakeBackend, group: str) -> None:
        self._backend = backend
        self._group = group

    def __getattr__(self, method: str) -> Any:
        soon = method.endswith("_soon")  # a port method answering a Future (run on the loop)
        name = f"{self._group}.{method.removesuffix('_soon')}"
        if method.startswith("_") or name not in self._backend.answers:
            raise AttributeError(method)

        def call(*args: Any) -> Any:
            *positional, ctx = args
            return self._backend.answer(name, tuple(positional), ctx)

        def call_soon(*args: Any) -> Future[Any]:
            future: Future[Any] = Future()
            try:
                future.set_result(call(*args))
            except BaseException as error:  # noqa: BLE001 - the future carries it
                future.set_exception(error)
            return future

        return call_soon if soon else call
