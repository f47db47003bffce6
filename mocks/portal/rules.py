"""The portal's dossier status rules, written from the reference (not from the gateway).

Rules (shared/reference/external-systems.md §2, "Dossier status"):
1→2|3; 2→4; 4→5|6|8|9; 5→4|7|8; 6→4|9; 9→10; 3, 7, 8 and 10 are final. Syncing a dossier
again with the same status is an update of its other fields, not a transition.
"""

from __future__ import annotations

TRANSITIONS: dict[str, frozenset[str]] = {
    "1": frozenset({"2", "3"}),
    "2": frozenset({"4"}),
    "3": frozenset(),
    "4": frozenset({"5", "6", "8", "9"}),
    "5": frozenset({"4", "7", "8"}),
    "6": frozenset({"4", "9"}),
    "7": frozenset(),
    "8": frozenset(),
    "9": frozenset({"10"}),
    "10": frozenset(),
}
FINAL = frozenset(code for code, targets in TRANSITIONS.items() if not targets)


def transition_allowed(current: str, new: str) -> bool:
    """Whether a stored dossier in ``current`` may be synced with status ``new``."""
    return new == current or new in TRANSITIONS.get(current, frozenset())
