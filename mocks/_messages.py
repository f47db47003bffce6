"""The messages a mock receives and answers: :class:`MockRequest` and :class:`MockResponse`.

Rules: frozen dataclasses; the request path is relative to the partner prefix, header names
are lower case, bodies are raw bytes. ``delay_ms`` and ``hang`` on a response are transport
instructions (latency and timeout faults), applied by :mod:`mocks._transport`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MockRequest:
    """One request as a mock sees it (path relative to the partner prefix)."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    path_params: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body.decode("utf-8"))

    def header(self, name: str, default: str = "") -> str:
        """A header by case-insensitive name."""
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True)
class MockResponse:
    """One answer: status, headers, body bytes, plus transport instructions."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_ms: int = 0
    hang: bool = False

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> MockResponse:
        """A JSON answer (UTF-8, non-ASCII kept as is)."""
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        merged = {"content-type": "application/json; charset=utf-8", **(headers or {})}
        return cls(status=status, headers=merged, body=body)

    @classmethod
    def xml(cls, body: bytes | str, status: int = 200, soap: bool = True) -> MockResponse:
        """An XML (by default SOAP 1.1, ``text/xml``) answer."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        content_type = "text/xml; charset=utf-8" if soap else "application/xml; charset=utf-8"
        return cls(status=status, headers={"content-type": content_type}, body=data)

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain") -> MockResponse:
        """A text answer (``text/html`` for pages)."""
        return cls(
            status=status,
            headers={"content-type": f"{content_type}; charset=utf-8"},
            body=text.encode("utf-8"),
        )

    def json_body(self) -> Any:
        """The body parsed as JSON (for tests and the control API)."""
        return json.loads(self.body.decode("utf-8"))
