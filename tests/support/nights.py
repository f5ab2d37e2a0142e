"""Building real nights for integration tests: a config file, a night file, the CLI as a process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "osa_core" / "data" / "nights" / "NightSummary_20200127.txt"


def toml_dumps(data: Mapping[str, Any]) -> str:
    """Enough TOML for test configs: scalars, lists, tables and arrays of tables."""

    def scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value)
        if isinstance(value, str | Path):
            return json.dumps(str(value))
        if isinstance(value, list):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{k} = {scalar(v)}" for k, v in value.items()) + " }"
        raise TypeError(value)

    lines: list[str] = []

    def table(prefix: str, items: Mapping[str, Any]) -> None:
        simple = {k: v for k, v in items.items() if not _is_table(v) and not _is_table_array(v)}
        if prefix:
            lines.append(f"[{prefix}]")
        for k, v in simple.items():
            lines.append(f"{k} = {scalar(v)}")
        lines.append("")
        for k, v in items.items():
            name = f"{prefix}.{k}" if prefix else k
            if _is_table(v):
                table(name, v)
            elif _is_table_array(v):
                for entry in v:
                    lines.append(f"[[{name}]]")
                    for kk, vv in entry.items():
                        lines.append(f"{kk} = {scalar(vv)}")
                    lines.append("")

    table("", data)
    return "\n".join(lines)


def _is_table(value: Any) -> bool:
    return isinstance(value, dict) and not _inline(value)


def _inline(value: dict[str, Any]) -> bool:
    return bool(value) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value.values())


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@dataclass
class Night:
    root: Path
    config: Path
    date: str
    backend: str

    def cli(
        self, *args: str, timeout: float = 120, check: bool = True, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "osa_core", "--config", str(self.config), *args]
        if args and args[0] not in ("plan",):
            cmd += ["--date", self.date]
        result = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
        )
        if check and result.returncode not in (0, 10):
            raise AssertionError(
                f"{' '.join(cmd)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def status(self) -> dict[str, Any]:
        result = self.cli("status", "--json")
        snapshot: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
        return snapshot

    def wait(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 180, every: float = 1.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status = self.status()
        while not predicate(status):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; last status:\n{json.dumps(status, indent=1)[:6000]}")
            time.sleep(every)
            status = self.status()
        return status

    def wait_finished(self, timeout: float = 180) -> dict[str, Any]:
        return self.wait(lambda s: all_finished(s), timeout)


def all_finished(status: Mapping[str, Any]) -> bool:
    return bool(status["subruns"]) and all(
        r["state"] not in ("PENDING", "RUNNING", "NOT_SUBMITTED", "UNKNOWN") for r in status["subruns"]
    )


def by_state(status: Mapping[str, Any], state: str) -> list[tuple[int, int]]:
    return [(r["run"], r["subrun"]) for r in status["subruns"] if r["state"] == state]


def not_in_state(status: Mapping[str, Any], state: str) -> list[tuple[Any, ...]]:
    """The subruns in another state, with what says why: an assertion's message."""
    return [
        (r["run"], r["subrun"], r["state"], r["job_id"], r["exit_code"], r["reason"])
        for r in status["subruns"]
        if r["state"] != state
    ]


def make_night(
    root: Path,
    backend: str,
    extra: Mapping[str, Any] | None = None,
    night_file: Path = SEED,
    date: str = "2020-01-27",
    partition: str | None = None,
) -> Night:
    night = date.replace("-", "")
    raw = root / "raw" / night
    raw.mkdir(parents=True, exist_ok=True)
    shutil.copy(night_file, raw / night_file.name)
    config: dict[str, Any] = {
        "paths": {
            "raw": "raw",
            "analysis": "running_analysis",
            "final": "final",
            "logs": "logs",
            "state": "state",
            "night_summary": f"raw/{{night}}/{night_file.name}",
        },
        "night": {"prod_id": "test"},
        "scheduler": {
            "backend": backend,
            "local_slots": 8,
            "refresh_min": 0.5,
            "refresh_max": 2.0,
            "command_timeout": 15.0,
            "memory": "500M",
            "calibration_memory": "500M",
            "walltime": "00:10:00",
            "calibration_walltime": "00:10:00",
        },
        "pipeline": {
            "profile": "simulate",
            "simulate": {"max_subruns": 3, "default_seconds": 0.2},
        },
    }
    if partition:
        config["scheduler"]["partition"] = partition
    config = deep_merge(config, extra or {})
    path = root / "osa.toml"
    path.write_text(toml_dumps(config))
    return Night(root=root, config=path, date=date, backend=backend)
