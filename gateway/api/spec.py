"""Loading the gateway contract for serving: external ``$ref`` inlined, local ones kept.

Rules:
- ``contracts/gateway/openapi.yaml`` references the portal's record schemas
  (``../portal/schemas/*.schema.json``): the portal contract is the single source of
  the dossier record. connexion does not follow a local ``$ref`` that leads to such a
  file reliably, so every reference to another file is inlined here, recursively and
  relative to the file that holds it; ``#/...`` references inside the spec stay.
- Only files under the ``contracts/`` directory may be referenced; no network.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
SPEC_PATH = CONTRACTS_DIR / "gateway" / "openapi.yaml"
_MAX_DEPTH = 32


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return yaml.safe_load(text) if path.suffix in {".yaml", ".yml"} else json.loads(text)


def _pointer(document: Any, fragment: str, where: Path) -> Any:
    node = document
    for token in [t for t in fragment.lstrip("/").split("/") if t]:
        token = token.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(token)] if isinstance(node, list) else node[token]
        except (KeyError, IndexError, ValueError):
            raise ValueError(f"{where}: no {fragment!r}") from None
    return node


class _Inliner:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache: dict[Path, Any] = {}

    def document(self, path: Path) -> Any:
        path = path.resolve()
        if self.root not in path.parents:
            raise ValueError(f"{path}: contracts may only reference files under {self.root}")
        if path not in self.cache:
            self.cache[path] = _load(path)
        return self.cache[path]

    def inline(self, node: Any, base: Path, *, in_spec: bool, depth: int = 0) -> Any:
        """Copy of ``node`` (found in file ``base``) with references to other files inlined."""
        if depth > _MAX_DEPTH:
            raise ValueError(f"{base}: $ref nesting deeper than {_MAX_DEPTH}")
        if isinstance(node, list):
            return [self.inline(item, base, in_spec=in_spec, depth=depth) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and not (in_spec and ref.startswith("#")):
            file_part, _, fragment = ref.partition("#")
            target_file = (base.parent / file_part).resolve() if file_part else base
            target = _pointer(self.document(target_file), fragment, target_file)
            return self.inline(copy.deepcopy(target), target_file, in_spec=False, depth=depth + 1)
        return {k: self.inline(v, base, in_spec=in_spec, depth=depth) for k, v in node.items()}


def load_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    """The raw contract, as written (``$ref`` untouched)."""
    document = _load(path)
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not an OpenAPI document")
    return document


def load_served_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    """The contract with every reference to another file inlined (what connexion serves)."""
    inliner = _Inliner(CONTRACTS_DIR.resolve())
    served = inliner.inline(load_spec(path), path.resolve(), in_spec=True)
    assert isinstance(served, dict)
    return served
