"""The profile files build, word for word, what the Python profiles they replaced built.

The golden files were written by ``profile_cases.py`` against the Python ``simulate`` and
``lstchain`` profiles before the chain became data: for the seed night (2020-01-27), under seven
configurations (external calibration files, models, drive log, RunSummary, overridden
executables, extra arguments, injected failures, errors), every job script, every calibration
and subrun step (argv, inputs, outputs, environment, note) and the closer's merge steps.
"""

from __future__ import annotations

import json

import pytest
from profile_cases import CASES, build_case, golden_path


@pytest.mark.parametrize("case", sorted(CASES))
def test_seed_night_builds_what_the_python_profiles_built(case: str) -> None:
    want = json.loads(golden_path(case).read_text())
    got = build_case(case)
    assert want["scripts"] and want["subruns"], f"{case}: the golden file is empty"
    for section, entries in want.items():
        for key, expected in entries.items():
            assert got[section].get(key) == expected, f"{case}: {section} {key} differs"
        assert set(got[section]) == set(entries), f"{case}: {section} covers other tasks"
