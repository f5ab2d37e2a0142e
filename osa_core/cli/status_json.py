"""``osa-core status --json``: the snapshot with its ETA and failure groups, encoded without drawing.

Kept apart from the Rich view so that a script asking for JSON does not import the table code.
"""

from __future__ import annotations

from typing import Any

import msgspec

from osa_core.model.snapshot import NightSnapshot
from osa_core.track.eta import estimate
from osa_core.track.signatures import failure_groups


def status_json(snapshot: NightSnapshot) -> dict[str, Any]:
    """The snapshot, its ETA with its basis, and the failures by signature."""
    out = snapshot.to_json()
    out["eta"] = estimate(snapshot).to_json()
    out["failure_groups"] = [g.to_json() for g in failure_groups(snapshot)]
    return out


def encode(snapshot: NightSnapshot) -> bytes:
    """One line of JSON (msgspec encodes a 10,000-subrun night's 5 MiB ~10x faster than json)."""
    return msgspec.json.encode(status_json(snapshot)) + b"\n"
