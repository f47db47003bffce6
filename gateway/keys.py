"""Signing keys: PEM files in one directory, date-based key ids, rotation with retention.

What it is for: the gateway signs every envelope (and every evidence checkpoint) with
its *active* key and verifies with any key it still trusts. Keys live as PKCS#8 PEM
files ``<kid>.pem`` (mode 0600) in one directory that every gateway process on the
host reads (API, workers, CLI).

Rules:
- A key id is the UTC creation time: ``gw-20261127T034500Z`` (a ``-N`` suffix only when
  two keys are made within the same second). Key ids therefore sort by age; the newest
  key is the active one, and a key is *retired* at the moment its successor was created.
- A retired key stays valid for verification for ``retention`` after its retirement
  (at least as long as a message can stay parked), then it is *expired*: envelope
  verification refuses it (``kid_retired``). Its file is kept so old evidence
  checkpoints stay verifiable; :meth:`KeyStore.prune` deletes expired files on request.
- The algorithm follows the key type: EC P-256 keys sign ``ES256``, Ed25519 keys sign
  ``EdDSA``. The store's ``algorithm`` only chooses what :meth:`KeyStore.generate` makes.
- A key file readable by group or others is refused (ConfigError naming the file).
- Private key material never appears in a ``repr``, a log line or an exception; only
  key ids and algorithms do. Parsed keys are cached: signing and verification are on
  the hot path. The store relists its directory every few seconds, and at once on an
  unknown kid, so a rotation done by another process is
  picked up without a restart. Key files appear atomically (written aside, then linked).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from gateway.domain.errors import ConfigError

Algorithm = Literal["ES256", "EdDSA"]
ALGORITHMS: tuple[Algorithm, ...] = ("ES256", "EdDSA")
JoseKey = ECKey | OKPKey

_KID_RE = re.compile(r"^gw-(\d{8}T\d{6}Z)(?:-(\d+))?$")
_RESCAN_UNKNOWN_S = 0.0  # a directory listing; parsing only happens for new files
_RESCAN_INTERVAL_S = 5.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def kid_created_at(kid: str) -> datetime:
    """The creation time a key id encodes. Raises ValueError for a foreign key id."""
    match = _KID_RE.match(kid)
    if match is None:
        raise ValueError(f"not a gateway key id: {kid!r}")
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def _kid_sort_key(kid: str) -> tuple[str, int]:
    match = _KID_RE.match(kid)
    assert match is not None
    return match.group(1), int(match.group(2) or 0)


@dataclass(frozen=True)
class PublicKeyInfo:
    """A verification key and its standing. ``expires_at`` is None while active."""

    kid: str
    algorithm: Algorithm
    key: JoseKey = field(repr=False)
    created_at: datetime
    retired_at: datetime | None
    expires_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True)
class SigningKey:
    """The active private key. ``key`` holds the private material: never log it."""

    kid: str
    algorithm: Algorithm
    key: JoseKey = field(repr=False)


class _Registry(JWSRegistry):
    """Our JWS registry: our algorithms only, room for large bodies.

    ``EdDSA`` is chosen knowingly (the design names it; RFC 9864 prefers ``Ed25519``
    for new protocols), so the library's per-call deprecation warning is not raised.
    """

    max_payload_length = 64 * 1024 * 1024

    def get_alg(self, name: str) -> Any:
        if name not in self.algorithms or (self.allowed and name not in self.allowed):
            raise JoseError(f"algorithm {name!r} not allowed")
        return self.algorithms[name]


def jws_registry(
    algorithms: Collection[str], headers: dict[str, HeaderParameter] | None = None
) -> JWSRegistry:
    """A joserfc registry allowing exactly ``algorithms`` and the extra ``headers``."""
    return _Registry(header_registry=headers, algorithms=list(algorithms))


class KeyLookup(Protocol):
    """Where a verifier finds keys by id. :class:`KeyStore` and :class:`JwksKeyLookup` are."""

    def lookup(self, kid: str) -> PublicKeyInfo | None: ...


def _algorithm_of(key: JoseKey) -> Algorithm:
    if isinstance(key, ECKey):
        if key.curve_name != "P-256":
            raise ConfigError(f"EC key on curve {key.curve_name} is not supported (need P-256)")
        return "ES256"
    if key.curve_name != "Ed25519":
        raise ConfigError(f"OKP key on curve {key.curve_name} is not supported (need Ed25519)")
    return "EdDSA"


def _load_pem(path: Path) -> JoseKey:
    mode = path.stat().st_mode
    if mode & 0o077:
        raise ConfigError(
            f"keys.directory: {path.name} is readable by others (mode {mode & 0o777:o});"
            " a private key file must be 0600 (chmod 600)"
        )
    data = path.read_bytes()
    private = serialization.load_pem_private_key(data, password=None)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(data)
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return OKPKey.import_key(data)
    raise ConfigError(f"key file {path.name}: unsupported key type {type(private).__name__}")


class KeyStore:
    """The gateway's signing keys in ``directory``; see the module docstring for rules."""

    def __init__(
        self,
        directory: Path,
        algorithm: Algorithm = "ES256",
        retention: timedelta = timedelta(days=30),
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ConfigError(f"keys.algorithm: {algorithm!r} is not one of {ALGORITHMS}")
        if retention <= timedelta(0):
            raise ConfigError("keys.retention: must be positive")
        self.directory = Path(directory)
        self.algorithm: Algorithm = algorithm
        self.retention = retention
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, JoseKey] = {}
        self._order: list[str] = []
        self._infos: dict[str, PublicKeyInfo] = {}
        self._scanned_at = 0.0
        self._scan()

    def __repr__(self) -> str:
        return f"KeyStore(directory={str(self.directory)!r}, kids={self._order!r})"

    @classmethod
    def ensure(
        cls,
        directory: Path,
        algorithm: Algorithm = "ES256",
        retention: timedelta = timedelta(days=30),
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> KeyStore:
        """Open the store, creating the directory and a first key if there is none."""
        Path(directory).mkdir(parents=True, exist_ok=True, mode=0o700)
        store = cls(directory, algorithm, retention, clock=clock)
        if not store._order:
            store.generate()
        return store

    # -- reading -----------------------------------------------------------------

    def _scan(self) -> None:
        """(Re)load key files; parsed keys already cached are kept."""
        with self._lock:
            names = os.listdir(self.directory) if self.directory.is_dir() else []
            kids = [n[:-4] for n in names if n.endswith(".pem") and _KID_RE.match(n[:-4])]
            if set(kids) == set(self._order) and self._infos:
                self._scanned_at = time.monotonic()
                return
            for kid in kids:
                if kid not in self._keys:
                    self._keys[kid] = _load_pem(self.directory / f"{kid}.pem")
            for gone in set(self._keys) - set(kids):
                del self._keys[gone]
            order = sorted(kids, key=_kid_sort_key)
            infos: dict[str, PublicKeyInfo] = {}
            for index, kid in enumerate(order):
                key = self._keys[kid]
                retired_at = kid_created_at(order[index + 1]) if index + 1 < len(order) else None
                infos[kid] = PublicKeyInfo(
                    kid=kid,
                    algorithm=_algorithm_of(key),
                    key=key,
                    created_at=kid_created_at(kid),
                    retired_at=retired_at,
                    expires_at=None if retired_at is None else retired_at + self.retention,
                )
            self._order, self._infos = order, infos
            self._scanned_at = time.monotonic()

    def _refresh(self, *, unknown: bool = False) -> None:
        age = time.monotonic() - self._scanned_at
        if age >= (_RESCAN_UNKNOWN_S if unknown else _RESCAN_INTERVAL_S):
            self._scan()

    def kids(self) -> list[str]:
        """All key ids on disk, oldest first."""
        self._refresh()
        return list(self._order)

    def active(self) -> SigningKey:
        """The newest key: the one to sign with. ConfigError when there is none."""
        self._refresh()
        if not self._order:
            raise ConfigError(f"keys.directory: no signing key in {self.directory}")
        info = self._infos[self._order[-1]]
        return SigningKey(kid=info.kid, algorithm=info.algorithm, key=info.key)

    def lookup(self, kid: str) -> PublicKeyInfo | None:
        """The key with this id and its standing (active, retired, expired), or None.

        An unknown id triggers a directory listing (cheap; files are parsed only when
        new) before answering None; otherwise the listing is re-checked every few
        seconds, to see rotations made by other processes.
        """
        self._refresh(unknown=kid not in self._infos)
        return self._infos.get(kid)

    def sign_checkpoint(self, payload: bytes) -> tuple[str, str]:
        """``(kid, compact JWS)`` over an evidence checkpoint (gateway.store.signatures)."""
        key = self.active()
        header = {"alg": key.algorithm, "kid": key.kid, "typ": "tthc-checkpoint"}
        registry = jws_registry([key.algorithm])
        return key.kid, jws.serialize_compact(header, payload, key.key, registry=registry)

    def verify_checkpoint(self, compact: str, kid: str) -> bytes:
        """The payload of a checkpoint signed under ``kid``, retired and expired keys
        included (old evidence stays verifiable); ``ValueError`` saying why not."""
        info = self.lookup(kid)
        if info is None:
            raise ValueError(f"unknown key {kid}")
        try:
            obj = jws.deserialize_compact(compact, info.key, registry=jws_registry([info.algorithm]))
            if obj.headers().get("kid") != kid:
                raise JoseError("kid differs from the stored kid")
        except (JoseError, ValueError) as error:
            raise ValueError(f"does not verify ({error})") from None
        return bytes(obj.payload)

    def public_key(self, kid: str) -> JoseKey | None:
        """The verification key for ``kid`` if it is active or within retention, else None."""
        info = self.lookup(kid)
        if info is None or info.expired(self._clock()):
            return None
        return info.key

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS to publish: the active key and retired keys still within retention."""
        now = self._clock()
        keys: list[dict[str, Any]] = []
        for kid in reversed(self._order):
            info = self.lookup(kid)
            if info is None or info.expired(now):
                continue
            jwk = dict(info.key.as_dict(private=False))
            jwk.update({"kid": kid, "alg": info.algorithm, "use": "sig"})
            keys.append(jwk)
        return {"keys": keys}

    # -- writing -----------------------------------------------------------------

    def generate(self, algorithm: Algorithm | None = None) -> SigningKey:
        """Create a new key (which becomes the active one) and return it."""
        algorithm = algorithm or self.algorithm
        if algorithm not in ALGORITHMS:
            raise ConfigError(f"keys.algorithm: {algorithm!r} is not one of {ALGORITHMS}")
        private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        if algorithm == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        else:
            private = ed25519.Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = self._clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        if self._order and _kid_sort_key(self._order[-1])[0] > stamp:
            raise ConfigError(
                f"keys.directory: newest key {self._order[-1]} is dated after the clock ({stamp})"
            )
        temporary = self.directory / f".{stamp}-{os.getpid()}-{threading.get_ident()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        suffix = 0
        try:
            while True:
                kid = f"gw-{stamp}" + (f"-{suffix}" if suffix else "")
                try:
                    os.link(temporary, self.directory / f"{kid}.pem")  # atomic, never overwrites
                except FileExistsError:
                    suffix += 1
                    continue
                break
        finally:
            temporary.unlink(missing_ok=True)
        self._scan()
        return self.active()

    def rotate(self) -> SigningKey:
        """Make a new active key; the previous one is retired now (kept for ``retention``)."""
        return self.generate()

    def prune(self) -> list[str]:
        """Delete the files of keys expired beyond retention; returns their ids.

        Evidence checkpoints signed with a pruned key can no longer be verified: prune
        only keys older than the evidence you must keep verifiable.
        """
        now = self._clock()
        removed: list[str] = []
        for kid in list(self._order):
            info = self.lookup(kid)
            if info is not None and info.expired(now):
                (self.directory / f"{kid}.pem").unlink(missing_ok=True)
                removed.append(kid)
        self._scan()
        return removed


class JwksKeyLookup:
    """Keys from a published JWKS (e.g. ``/.well-known/jwks.json``): all treated as valid.

    For verifying with keys this process does not hold as files (offline ``log
    verify``, another gateway's envelopes). Keys of other types or curves are skipped.
    """

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._keys: dict[str, PublicKeyInfo] = {}
        for item in jwks.get("keys", []):
            kid = item.get("kid")
            if not isinstance(kid, str):
                continue
            key: JoseKey
            if item.get("kty") == "EC" and item.get("crv") == "P-256":
                key = ECKey.import_key(item)
            elif item.get("kty") == "OKP" and item.get("crv") == "Ed25519":
                key = OKPKey.import_key(item)
            else:
                continue
            try:
                created = kid_created_at(kid)
            except ValueError:
                created = datetime.fromtimestamp(0, UTC)
            self._keys[kid] = PublicKeyInfo(kid, _algorithm_of(key), key, created, None, None)

    def lookup(self, kid: str) -> PublicKeyInfo | None:
        return self._keys.get(kid)
