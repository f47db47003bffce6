"""Fakes and helpers for the API tests: one fake backend serving every port, spec examples.

The fake answers each port call with the contract's own example for that operation
(so response validation checks them), records every call with its context, and can be
told to raise for one method. The operations that call flow functions (dossiers,
callbacks) get the real flow functions over a :class:`FakeUnitOfWork` (what they stage is
recorded when they commit; ``errors["uow.commit"]`` makes the commit fail), a fake signer
and a fake portal. The callbacks' units of work also commit for real on the backend's
store (a :class:`RecordingUnitOfWork`: the portal push spends its nonce there).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from functools import cache
from types import TracebackType
from typing import Any

from adapters.payment.records import KnownTransaction
from gateway.api.app import HTTP_METHODS, load_spec
from gateway.api.services import ApiKey
from gateway.domain.messages import Envelope
from gateway.flows.dossiers import DossierFlows
from gateway.flows.payments import PaymentFlows
from gateway.flows.ports import CallbackFlows, CallContext
from gateway.futures import then
from gateway.store.repositories import UnitOfWork

PAYMENT_SECRET = "demo-payment-secret"

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
}


class FakeBackend:
    """Serves every port; answers with the contract's examples unless told otherwise.

    ``calls`` records ``("group.method", args, ctx)``, and ``("uow.commit", staged, None)``
    for each committed unit of work; ``errors["group.method"]`` makes that method raise
    (``errors["uow.commit"]``: every commit); ``answers["group.method"]`` replaces its answer.
    ``payments`` holds the references the fake ledger knows (reference -> amount).
    """

    def __init__(self, units_of_work: Callable[[], UnitOfWork] | None = None) -> None:
        self.units_of_work = units_of_work  # the real store's, for the callbacks
        self.calls: list[tuple[str, tuple[Any, ...], CallContext | None]] = []
        self.answers: dict[str, Any] = {}
        self.errors: dict[str, BaseException] = {}
        self.payments: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        self.calls.clear()
        self.errors.clear()
        self.answers.clear()
        self.payments.clear()
        for _, _, operation in operations():
            short = operation["operationId"].removeprefix("gateway.api.handlers.")
            if short in PORT_METHODS:
                group, method = PORT_METHODS[short]
                self.answers[f"{group}.{method}"] = success_example(operation)[1]

    def port(self, group: str) -> Any:
        if group == "dossiers":
            return DossierFlows(self.unit_of_work, FakeSigner(), FakePortal(self))  # type: ignore[arg-type]
        if group == "callbacks":
            payments = PaymentFlows(
                None,  # type: ignore[arg-type]  # the confirm calls no partner
                FakeLedger(self),  # type: ignore[arg-type]
                self.recording_unit_of_work,
                FakeSigner(),
                partner_code="HANOI",
                secret=PAYMENT_SECRET,
                scheme="sha256-suffix",
            )
            return CallbackFlows(self.recording_unit_of_work, FakeSigner(), payments)
        return FakePort(self, group)

    def unit_of_work(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    def recording_unit_of_work(self) -> FakeUnitOfWork:
        if self.units_of_work is None:
            return FakeUnitOfWork(self)
        return RecordingUnitOfWork(self, self.units_of_work())

    def committed(self) -> list[tuple[tuple[str, tuple[Any, ...], dict[str, Any]], ...]]:
        """What each committed unit of work staged, in order."""
        return [args for name, args, _ in self.calls if name == "uow.commit"]  # type: ignore[misc]

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


class _Staging:
    def __init__(self, uow: FakeUnitOfWork, repository: str) -> None:
        self._uow = uow
        self._repository = repository

    def __getattr__(self, method: str) -> Any:
        def stage(*args: Any, **kwargs: Any) -> None:
            self._uow.staged.append((f"{self._repository}.{method}", args, kwargs))

        return stage


class FakeUnitOfWork:
    """Records what a flow stages; its commit answers at once (see :class:`FakeBackend`)."""

    def __init__(self, backend: FakeBackend) -> None:
        self.backend = backend
        self.staged: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.messages = _Staging(self, "messages")
        self.dossier_states = _Staging(self, "dossier_states")
        self.idempotency = _Staging(self, "idempotency")
        self.payments = _Staging(self, "payments")
        self.nonces = _Staging(self, "nonces")

    def __enter__(self) -> FakeUnitOfWork:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pass

    def commit(self) -> Future[None]:
        future: Future[None] = Future()
        error = self.backend.errors.get("uow.commit")
        if error is not None:
            future.set_exception(error)
            return future
        self.backend.calls.append(("uow.commit", tuple(self.staged), None))
        future.set_result(None)
        return future


class RecordingUnitOfWork(FakeUnitOfWork):
    """A :class:`FakeUnitOfWork` that commits what it recorded on a real one."""

    def __init__(self, backend: FakeBackend, real: UnitOfWork) -> None:
        super().__init__(backend)
        self._real = real

    def commit(self) -> Future[None]:
        error = self.backend.errors.get("uow.commit")
        if error is not None:
            failed: Future[None] = Future()
            failed.set_exception(error)
            return failed
        staged = tuple(self.staged)
        for name, args, kwargs in staged:
            repository, method = name.split(".")
            getattr(getattr(self._real, repository), method)(*args, **kwargs)

        def recorded(_: None) -> None:
            self.backend.calls.append(("uow.commit", staged, None))

        return then(self._real.commit(), recorded)


class FakeSigner:
    def sign(self, *, message_id: str, type: Any, recipient: str, body: bytes,
             correlation_id: str, headers: Mapping[str, str] | None = None,
             replay: int = 0) -> Envelope:  # fmt: skip
        return Envelope(
            message_id, str(type), recipient, correlation_id, datetime.now(UTC), body,
            "e30..c2ln", dict(headers or {}),
        )  # fmt: skip


class FakePortal:
    """Answers ``find_dossier`` with None (not on the portal) or ``errors["dossiers.portal_status"]``."""

    def __init__(self, backend: FakeBackend) -> None:
        self._backend = backend

    def find_dossier(self, dossier_code: str, *, context: Any = None) -> None:
        self._backend.calls.append(("dossiers.portal_status", (dossier_code,), None))
        error = self._backend.errors.get("dossiers.portal_status")
        if error is not None:
            raise error
        return None


class FakeLedger:
    def __init__(self, backend: FakeBackend) -> None:
        self._backend = backend

    def find(self, reference: str) -> KnownTransaction | None:
        amount = self._backend.payments.get(reference)
        return None if amount is None else KnownTransaction(reference, "D-1", amount, False)
