"""The load: the city system, the portal and the payment platform calling the gateway.

Message mix, per ten messages: three dossiers synced (``POST /v1/dossiers``, status 2) each
followed by its progress step (``POST /v1/dossiers/{code}/progress``, status 4), two dossiers
pushed by the portal (``POST /v1/callbacks/portal/dossiers``, HMAC-signed as design.md says)
and two payments confirmed (``POST /v1/payments`` INIT, then the platform's confirm on
``POST /v1/callbacks/payments`` with its ``MaXacThuc``). Bodies are the contract's examples
with fresh dossier codes.

Rules:
- Messages are paced evenly over the load window by a dispatcher, run by a bounded pool.
- Every request is retried on a connection error, a timeout, a 5xx, a 429 or a 409
  "idempotency key in progress", alternating between the two ``serve`` processes, with the
  SAME bytes and the same ``Idempotency-Key`` (a portal push is signed afresh per attempt:
  its nonce is single-use), until it is answered or its retry budget runs out (bounded).
- A message is *accepted* when the gateway said so: ``202`` for dossiers, progress and
  pushes; ``200`` with ``MaLoi`` ``00`` (or ``02``, already confirmed by an earlier attempt
  whose answer was lost) for a payment confirm. Other answers are recorded as refused.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
import yaml

from bench.chaos.stack import REPO

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
CITY_KEY = "demo-city-key"
AGENCY = "000.00.00.H26"
PORTAL_SECRET = "demo-portal-callback-secret"
PAYMENT_PARTNER, PAYMENT_SECRET = "HANOI", "demo-payment-secret"
CONFIRM_FIELDS = (
    "LoaiBanTin",
    "MaLoi",
    "MaDoiTac",
    "MaThamChieu",
    "SoTien",
    "MaTienTe",
    "MaGiaoDich",
    "MaNganHang",
    "ThoiGianGD",
    "ThongTinGiaoDich",
)
KINDS = ("sync", "progress", "push", "payment")


def now_text() -> str:
    return datetime.now(VIETNAM).strftime("%Y%m%d%H%M%S")


def _examples(tree: Path = REPO) -> dict[str, Any]:
    spec = yaml.safe_load((tree / "contracts" / "gateway" / "openapi.yaml").read_text("utf-8"))
    paths, named = spec["paths"], spec["components"]["examples"]

    def body(path: str) -> Any:
        content = paths[path]["post"]["requestBody"]["content"]["application/json"]
        if "example" in content:
            return content["example"]
        ref = next(iter(content["examples"].values()))["$ref"].rsplit("/", 1)[-1]
        return named[ref]["value"]

    return {
        "dossier": body("/v1/dossiers"),
        "progress": body("/v1/dossiers/{dossierCode}/progress"),
        "push": body("/v1/callbacks/portal/dossiers"),
        "payment": body("/v1/payments"),
    }


@dataclass
class Job:
    """One message the load tried to get accepted, and what the gateway answered."""

    kind: str
    index: int
    dossier_code: str
    reference: str = ""  # payments: MaThamChieu; progress: the step's NoiDungXuLy tag
    accepted: bool = False
    answer: str = ""  # the final status (and MaLoi) or the reason it was not accepted
    message_id: str = ""
    attempts: int = 0
    accepted_at: float = 0.0

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the message at its mock."""
        return (
            self.kind,
            self.reference if self.kind in ("payment", "progress") else self.dossier_code,
        )


def portal_signature(timestamp: str, nonce: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + nonce.encode() + b"." + body
    return hmac.new(PORTAL_SECRET.encode(), message, hashlib.sha256).hexdigest()


def confirm_checksum(message: dict[str, Any]) -> str:
    values = ["" if message.get(name) is None else str(message[name]) for name in CONFIRM_FIELDS]
    return hashlib.sha256("|".join([*values, PAYMENT_SECRET]).encode()).hexdigest()


@dataclass
class Answer:
    status: int
    body: Any
    attempts: int


class Client:
    """POSTs with retries across the ``serve`` processes (see the module rules)."""

    RETRY_STATUSES = frozenset({409, 429})

    def __init__(self, endpoints: list[str], *, budget_seconds: float, timeout: float = 10.0):
        self.endpoints = endpoints
        self.budget = budget_seconds
        self.timeout = timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def post(
        self,
        path: str,
        body: bytes,
        headers: Callable[[], dict[str, str]],
        *,
        spread: int,
    ) -> Answer:
        deadline = time.monotonic() + self.budget
        attempt = 0
        last = "no attempt"
        while True:
            url = self.endpoints[(spread + attempt) % len(self.endpoints)] + path
            attempt += 1
            try:
                response = self._session().post(
                    url, data=body, headers=headers(), timeout=self.timeout
                )
                retry = response.status_code >= 500 or response.status_code in self.RETRY_STATUSES
                if not retry:
                    try:
                        parsed: Any = response.json()
                    except ValueError:
                        parsed = response.text[:300]
                    return Answer(response.status_code, parsed, attempt)
                last = f"HTTP {response.status_code}"
            except requests.RequestException as error:
                last = type(error).__name__
                self._local.session = None  # a broken keep-alive connection: start afresh
            if time.monotonic() + 0.5 > deadline:
                return Answer(0, f"gave up after {attempt} attempts ({last})", attempt)
            time.sleep(min(2.0, 0.2 * 2 ** min(attempt, 4)))


@dataclass
class Load:
    """Paces ``messages`` over ``window_seconds`` against the gateway (module rules)."""

    endpoints: list[str]
    messages: int
    window_seconds: float
    concurrency: int = 8
    budget_seconds: float = 90.0
    tree: Path = REPO  # whose contracts/ the bodies come from
    jobs: list[Job] = field(default_factory=list)
    finished_at: float = 0.0

    def __post_init__(self) -> None:
        self.client = Client(self.endpoints, budget_seconds=self.budget_seconds)
        self.examples = _examples(self.tree)
        self.today = datetime.now(VIETNAM).strftime("%y%m%d")
        self._lock = threading.Lock()
        self._counter = {kind: 0 for kind in KINDS}
        self._run_tag = secrets.token_hex(3)

    # -- the plan -------------------------------------------------------------------------
    def units(self) -> list[tuple[str, int]]:
        """(unit kind, messages in it): per ten messages 3 dossier units, 2 pushes, 2 payments."""
        pattern = ["dossier", "push", "dossier", "payment", "dossier", "push", "payment"]
        sizes = {"dossier": 2, "push": 1, "payment": 1}
        plan: list[tuple[str, int]] = []
        total = 0
        while total < self.messages:
            for unit in pattern:
                size = min(sizes[unit], self.messages - total)
                if size <= 0:
                    break
                plan.append((unit, size))
                total += size
        return plan

    def _code(self, kind: str) -> tuple[int, str]:
        base = {"sync": 10000, "push": 50000, "payment": 80000}[kind]
        with self._lock:
            index = self._counter[kind]
            self._counter[kind] += 1
        if index >= 9999:
            raise ValueError("chaos load: at most 9,999 messages of one kind per case")
        return index, f"{AGENCY}-{self.today}-{base + index}"

    def _new_job(self, job: Job) -> Job:
        with self._lock:
            self.jobs.append(job)
        return job

    # -- running --------------------------------------------------------------------------
    def run(self) -> list[Job]:
        """Blocking: dispatch every unit on schedule, wait for all of them (bounded)."""
        plan = self.units()
        interval = self.window_seconds / max(1, len(plan))
        started = time.monotonic()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="chaos-load") as pool:
            for number, (unit, size) in enumerate(plan):
                delay = started + number * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                runner = {"dossier": self._dossier, "push": self._push, "payment": self._payment}
                pool.submit(self._guarded, runner[unit], size)
        self.finished_at = time.monotonic()
        return self.jobs

    def _guarded(self, unit: Callable[[int], None], size: int) -> None:
        try:
            unit(size)
        except Exception as error:  # noqa: BLE001 - a harness error is recorded, not raised
            print(f"chaos load: unit failed: {type(error).__name__}: {error}")

    def _city_headers(self, key: str) -> Callable[[], dict[str, str]]:
        fixed = {
            "Content-Type": "application/json",
            "X-API-Key": CITY_KEY,
            "Idempotency-Key": key,
            "X-Correlation-ID": f"chaos-{key[:16]}",
        }
        return lambda: fixed

    def _accept(self, job: Job, answer: Answer, ok: Callable[[Answer], bool]) -> None:
        job.attempts = answer.attempts
        job.accepted = ok(answer)
        if job.accepted:
            job.accepted_at = time.monotonic()
        if isinstance(answer.body, dict):
            detail = answer.body.get("MaLoi") or answer.body.get("code") or ""
            job.message_id = str(answer.body.get("messageId", ""))
        else:
            detail = str(answer.body)[:120]
        job.answer = f"{answer.status} {detail}".strip()

    def _dossier(self, size: int) -> None:
        index, code = self._code("sync")
        record = copy.deepcopy(self.examples["dossier"])
        record.update({"MaHoSo": code, "NgayTiepNhan": now_text(), "TrangThaiHoSo": "2"})
        body = json.dumps(record, ensure_ascii=False).encode()
        sync = self._new_job(Job("sync", index, code))
        answer = self.client.post(
            "/v1/dossiers", body, self._city_headers(uuid.uuid4().hex), spread=index
        )
        self._accept(sync, answer, lambda a: a.status == 202)
        if size < 2:
            return
        tag = f"chaos {self._run_tag} progress {code}"
        progress = self._new_job(Job("progress", index, code, reference=tag))
        if not sync.accepted:
            progress.answer = "not sent: its sync was not accepted"
            return
        step = copy.deepcopy(self.examples["progress"])
        step.update({"TrangThai": "4", "ThoiDiemXuLy": now_text(), "NoiDungXuLy": tag})
        body = json.dumps(step, ensure_ascii=False).encode()
        answer = self.client.post(
            f"/v1/dossiers/{code}/progress",
            body,
            self._city_headers(uuid.uuid4().hex),
            spread=index,
        )
        self._accept(progress, answer, lambda a: a.status == 202)

    def _push(self, size: int) -> None:
        index, code = self._code("push")
        stamp = now_text()
        record = copy.deepcopy(self.examples["push"])
        record.update({"MaHoSo": code, "NgayTiepNhan": stamp, "NgayNopHoSo": stamp})
        body = json.dumps(record, ensure_ascii=False).encode()

        def headers() -> dict[str, str]:
            timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
            return {
                "Content-Type": "application/json",
                "X-Portal-Timestamp": timestamp,
                "X-Portal-Nonce": nonce,
                "X-Portal-Signature": portal_signature(timestamp, nonce, body),
                "X-Correlation-ID": f"chaos-push-{index}",
            }

        job = self._new_job(Job("push", index, code))
        answer = self.client.post("/v1/callbacks/portal/dossiers", body, headers, spread=index)
        self._accept(job, answer, lambda a: a.status == 202)

    def _payment(self, size: int) -> None:
        index, code = self._code("payment")
        job = self._new_job(Job("payment", index, code))
        request = copy.deepcopy(self.examples["payment"])
        request["MaHoSo"] = code
        request["ThongTinBienLai"]["MaHoSo"] = code
        request["ThongTinGiaoDich"] = f"Thanh toan le phi ho so {code}"
        created = self.client.post(
            "/v1/payments",
            json.dumps(request, ensure_ascii=False).encode(),
            self._city_headers(uuid.uuid4().hex),
            spread=index,
        )
        if created.status != 201 or not isinstance(created.body, dict):
            job.attempts = created.attempts
            job.answer = f"INIT not created: {created.status} {str(created.body)[:120]}"
            return
        job.reference = str(created.body["MaThamChieu"])
        confirm: dict[str, Any] = {
            "LoaiBanTin": "CONFIRM",
            "MaLoi": "00",
            "MaDoiTac": PAYMENT_PARTNER,
            "MaThamChieu": job.reference,
            "SoTien": created.body["SoTien"],
            "MaTienTe": "VND",
            "MaGiaoDich": f"CHAOS{self._run_tag.upper()}{index:07d}",
            "MaNganHang": "970415",
            "ThoiGianGD": now_text(),
            "ThongTinGiaoDich": request["ThongTinGiaoDich"],
        }
        confirm["MaXacThuc"] = confirm_checksum(confirm)
        body = json.dumps(confirm, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "X-Correlation-ID": f"chaos-pay-{index}"}
        answer = self.client.post("/v1/callbacks/payments", body, lambda: headers, spread=index)
        self._accept(
            job,
            answer,
            lambda a: (
                a.status == 200 and isinstance(a.body, dict) and a.body.get("MaLoi") in ("00", "02")
            ),
        )
