"""The one fault hook: every point the code can die at is named, documented, and reached by code.

A point used in the code but missing from ``faults.POINTS`` and ``docs/faults.md`` would be a kill
the campaign never tries; a documented point no code reaches would be a campaign that proves nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

from osa_core.model import faults

ROOT = Path(__file__).resolve().parents[2]


def points_in_code() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "osa_core").rglob("*.py"):
        found |= set(re.findall(r"kill_point\(\"([a-z-]+)\"\)", path.read_text()))
    return found


def test_every_point_in_the_code_is_declared_and_every_declared_point_is_used() -> None:
    assert points_in_code() == set(faults.POINTS)


def test_every_point_is_documented_for_testers() -> None:
    doc = (ROOT / "docs" / "faults.md").read_text()
    rows = set(re.findall(r"^\| `([a-z-]+)` \|", doc, flags=re.M))
    assert rows == set(faults.POINTS)


def test_no_second_fault_hook_hides_in_the_code() -> None:
    hooks = [
        path.relative_to(ROOT)
        for path in (ROOT / "osa_core").rglob("*.py")
        if "OSA_FAULT" in path.read_text() and path.name != "faults.py"
    ]
    assert hooks == []
