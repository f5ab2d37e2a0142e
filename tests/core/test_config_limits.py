"""Values a configuration may not hold are refused when it is read, naming the file, the line and
the key: ranges, patterns and cross-field rules declared in the schema (issue 10, item 7).

Real TOML files in tmp_path, the loader as the engine calls it, and the CLI as a process for the
exit code and the one line an operator reads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import msgspec
import pytest

from osa_core.model.config import ConfigError, SchedulerConfig, config_from_dict, load_config
from osa_core.pipeline.factory import get_profile

ROOT = Path(__file__).resolve().parents[2]
FAIL = '[[pipeline.simulate.failures]]\nrun = 1874\nstep = "r0_to_dl1"\n'

# (id, TOML text, dotted key named, words of what is expected)
HOSTILE = [
    ("prod-id-parent", '[night]\nprod_id = "../../../etc"\n', "night.prod_id", "one path component"),
    ("prod-id-slash", '[night]\nprod_id = "v1/x"\n', "night.prod_id", "one path component"),
    ("prod-id-dotdot", '[night]\nprod_id = ".."\n', "night.prod_id", "one path component"),
    ("prod-id-absolute", '[night]\nprod_id = "/etc"\n', "night.prod_id", "one path component"),
    ("prod-id-empty", '[night]\nprod_id = ""\n', "night.prod_id", "one path component"),
    ("prod-id-newline", '[night]\nprod_id = "v1\\n"\n', "night.prod_id", "one path component"),
    ("prod-id-long", '[night]\nprod_id = "' + "../" * 100 + '"\n', "night.prod_id", "got '../../../"),
    ("key-with-newline", '"bad\\nkey" = 1\n', '"bad\\nkey"', "unknown key (expected one of: "),
    ("day-boundary-25", "[night]\nday_boundary_hour = 25\n", "night.day_boundary_hour", "from 0 to 23"),
    ("day-boundary-neg", "[night]\nday_boundary_hour = -1\n", "night.day_boundary_hour", "from 0 to 23"),
    ("telescope-0", "[telescope]\nid = 0\n", "telescope.id", "from 1 to 99"),
    ("max-tries-0", "[scheduler]\nmax_tries = 0\n", "scheduler.max_tries", "from 1 to 100"),
    ("max-tries-neg", "[scheduler]\nmax_tries = -3\n", "scheduler.max_tries", "from 1 to 100"),
    ("local-slots-neg", "[scheduler]\nlocal_slots = -1\n", "scheduler.local_slots", "from 0 to 4096"),
    ("array-throttle-neg", "[scheduler]\narray_throttle = -1\n", "scheduler.array_throttle", ">= 0"),
    (
        "oom-factor-neg",
        "[scheduler]\noom_memory_factor = -1.5\n",
        "scheduler.oom_memory_factor",
        "from 1 to 100",
    ),
    ("oom-factor-nan", "[scheduler]\noom_memory_factor = nan\n", "scheduler.oom_memory_factor", "got nan"),
    ("oom-factor-inf", "[scheduler]\noom_memory_factor = inf\n", "scheduler.oom_memory_factor", "got inf"),
    (
        "walltime-factor-shrinks",
        "[scheduler]\ntimeout_walltime_factor = 0.5\n",
        "scheduler.timeout_walltime_factor",
        "from 1 to 100",
    ),
    (
        "walltime-factor-inf",
        "[scheduler]\ntimeout_walltime_factor = -inf\n",
        "scheduler.timeout_walltime_factor",
        "got -inf",
    ),
    ("command-timeout-0", "[scheduler]\ncommand_timeout = 0\n", "scheduler.command_timeout", "> 0"),
    ("command-timeout-neg", "[scheduler]\ncommand_timeout = -5\n", "scheduler.command_timeout", "> 0"),
    ("command-timeout-nan", "[scheduler]\ncommand_timeout = nan\n", "scheduler.command_timeout", "got nan"),
    ("command-timeout-inf", "[scheduler]\ncommand_timeout = inf\n", "scheduler.command_timeout", "<= 86400"),
    ("refresh-min-neg", "[scheduler]\nrefresh_min = -2.0\n", "scheduler.refresh_min", "> 0"),
    ("refresh-max-inf", "[scheduler]\nrefresh_max = inf\n", "scheduler.refresh_max", "<= 86400"),
    (
        "refresh-min-above-max",
        "[scheduler]\nrefresh_min = 60.0\nrefresh_max = 30.0\n",
        "scheduler.refresh_min",
        "expected at most refresh_max (30), got 60",
    ),
    (
        "refresh-default-max-below-min",
        "[scheduler]\nrefresh_max = 1.0\n",
        "scheduler.refresh_min",
        "expected at most refresh_max (1), got 2",
    ),
    (
        "walltime-99",
        '[scheduler]\nwalltime = "99:99:99"\n',
        "scheduler.walltime",
        "minutes and seconds below 60",
    ),
    ("walltime-arabic", '[scheduler]\nwalltime = "\u0660\u0662:00"\n', "scheduler.walltime", "02:00:00"),
    ("walltime-zero", '[scheduler]\nwalltime = "00:00:00"\n', "scheduler.walltime", "more than zero"),
    ("walltime-day-hour-25", '[scheduler]\nwalltime = "2-25:00"\n', "scheduler.walltime", "hours below 24"),
    ("walltime-words", '[scheduler]\nwalltime = "two hours"\n', "scheduler.walltime", "a wall time like"),
    (
        "calibration-walltime-60s",
        '[scheduler]\ncalibration_walltime = "1:60"\n',
        "scheduler.calibration_walltime",
        "a wall time like",
    ),
    ("memory-zero", '[scheduler]\nmemory = "0"\n', "scheduler.memory", "more than 0"),
    ("memory-neg", '[scheduler]\nmemory = "-4G"\n', "scheduler.memory", "a memory like 4G"),
    ("memory-unit", '[scheduler]\nmemory = "4X"\n', "scheduler.memory", "a memory like 4G"),
    (
        "memory-fraction",
        '[scheduler]\ncalibration_memory = "1.5G"\n',
        "scheduler.calibration_memory",
        "whole",
    ),
    ("partition-empty", '[scheduler]\npartition = ""\n', "scheduler.partition", "without spaces"),
    ("account-space", '[scheduler]\naccount = "lst analysis"\n', "scheduler.account", "without spaces"),
    (
        "sbatch-arg-not-an-option",
        '[scheduler]\nextra_sbatch_args = ["qos=short"]\n',
        "scheduler.extra_sbatch_args[0]",
        "an option like --qos=short",
    ),
    (
        "sbatch-arg-newline",
        '[scheduler]\nextra_sbatch_args = ["--qos=a\\n#SBATCH --mem=1"]\n',
        "scheduler.extra_sbatch_args[0]",
        "on one line",
    ),
    ("port-0", "[webserver]\nport = 0\n", "webserver.port", "from 1 to 65535"),
    ("port-70000", "[webserver]\nport = 70000\n", "webserver.port", "from 1 to 65535"),
    ("port-neg", "[webserver]\nport = -22\n", "webserver.port", "from 1 to 65535"),
    ("host-space", '[webserver]\nhost = "data check.org"\n', "webserver.host", "without spaces"),
    ("user-newline", '[webserver]\nuser = "lst\\nroot"\n', "webserver.user", "without spaces"),
    ("runner-newline", '[pipeline]\nrunner = "/opt/osa\\nrm"\n', "pipeline.runner", "on one line"),
    ("retries-neg", "[webserver]\nretries = -1\n", "webserver.retries", "from 0 to 100"),
    ("backoff-neg", "[webserver]\nbackoff = -2.0\n", "webserver.backoff", "from 0 to 86400"),
    ("backoff-nan", "[webserver]\nbackoff = nan\n", "webserver.backoff", "got nan"),
    ("push-timeout-0", "[webserver]\ntimeout = 0.0\n", "webserver.timeout", "> 0"),
    ("push-timeout-inf", "[webserver]\ntimeout = inf\n", "webserver.timeout", "<= 86400"),
    ("remote-root-relative", '[webserver]\nroot = "datacheck"\n', "webserver.root", "an absolute path"),
    (
        "failure-unknown-step",
        '[[pipeline.simulate.failures]]\nrun = 1874\nstep = "r0_to_dl2"\n',
        "pipeline.simulate.failures[0].step",
        "a step of the simulate profile (drs4_baseline",
    ),
    ("failure-attempt-0", FAIL + "attempts = [0]\n", "pipeline.simulate.failures[0].attempts[0]", ">= 1"),
    ("failure-exit-256", FAIL + "exit_code = 256\n", "pipeline.simulate.failures[0].exit_code", "0 to 255"),
    ("failure-exit-neg", FAIL + "exit_code = -1\n", "pipeline.simulate.failures[0].exit_code", "0 to 255"),
    ("failure-subrun-neg", FAIL + "subrun = -1\n", "pipeline.simulate.failures[0].subrun", ">= 0"),
    (
        "failure-allocate-neg",
        FAIL + "allocate_mb = -1\n",
        "pipeline.simulate.failures[0].allocate_mb",
        "from 0",
    ),
    (
        "failure-run-65-bits",
        '[[pipeline.simulate.failures]]\nrun = 36893488147419103232\nstep = "r0_to_dl1"\n',
        "pipeline.simulate.failures[0].run",
        ">= 0",
    ),
    (
        "failure-run-neg",
        '[[pipeline.simulate.failures]]\nrun = -1\nstep = "r0_to_dl1"\n',
        "pipeline.simulate.failures[0].run",
        ">= 0",
    ),
    (
        "default-seconds-neg",
        "[pipeline.simulate]\ndefault_seconds = -1\n",
        "pipeline.simulate.default_seconds",
        "from 0",
    ),
    ("max-subruns-neg", "[pipeline.simulate]\nmax_subruns = -1\n", "pipeline.simulate.max_subruns", ">= 0"),
    (
        "step-seconds-inf",
        "[pipeline.simulate.step_seconds]\nr0_to_dl1 = inf\n",
        "pipeline.simulate.step_seconds.r0_to_dl1",
        "from 0 to 86400",
    ),
    (
        "step-seconds-unknown-step",
        "[pipeline.simulate.step_seconds]\nr0_to_dl1 = 1\nr0_to_dl2 = 1\n",
        "pipeline.simulate.step_seconds.r0_to_dl2",
        "unknown key: expected a step of the simulate profile",
    ),
    (
        "executable-unknown-step",
        '[pipeline.lstchain.executables]\nr0_to_dl3 = "x"\n',
        "pipeline.lstchain.executables.r0_to_dl3",
        "a step of the lstchain profile",
    ),
    (
        "executable-empty",
        '[pipeline.lstchain.executables]\nr0_to_dl1 = ""\n',
        "pipeline.lstchain.executables.r0_to_dl1",
        "a non-empty string",
    ),
    (
        "extra-args-unknown-step",
        '[pipeline.lstchain.extra_args]\ndl1_to_dl3 = ["--x"]\n',
        "pipeline.lstchain.extra_args.dl1_to_dl3",
        "a step of the lstchain profile",
    ),
    ("max-events-neg", "[pipeline.lstchain]\nmax_events = -1\n", "pipeline.lstchain.max_events", ">= 0"),
    ("path-nul", '[paths]\nstate = "st\\u0000ate"\n', "paths.state", "a path (not empty, on one line)"),
    ("path-newline", '[paths]\nlogs = "lo\\ngs"\n', "paths.logs", "a path (not empty, on one line)"),
    (
        "calibration-path-empty",
        '[pipeline.calibration]\ndrs4 = ""\n',
        "pipeline.calibration.drs4",
        "a path (not empty, on one line)",
    ),
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "osa.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "text", "key", "expected"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_value_is_refused_naming_file_line_and_key(
    tmp_path: Path, name: str, text: str, key: str, expected: str
) -> None:
    path = write(tmp_path, "# site configuration\n" + text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert info.value.exit_code == 2
    match = re.match(rf"{re.escape(str(path))}:(\d+): {re.escape(key)}: ", message)
    assert match, message
    written = path.read_text().splitlines()[int(match[1]) - 1]
    assert key.split(".")[-1].split("[")[0] in written or written.startswith("["), (written, message)
    assert expected in message, message
    assert "\n" not in message and "Traceback" not in message and len(message) < 600


LINES = [
    (
        '[paths]\nraw = "r"\n' + FAIL + FAIL.replace("1874", "1875").replace("r0_to_dl1", "r0_to_dl2"),
        8,
        "pipeline.simulate.failures[1].step",
    ),
    ('[telescope]\nid = 1\n\n[scheduler]  # the cluster\n"max_tries" = 0\n', 5, "scheduler.max_tries"),
    ("[telescope]\nid = 1\nscheduler.max_tries = 0\n", 3, "telescope.scheduler"),
    ("scheduler.max_tries = 0\n[telescope]\nid = 1\n", 1, "scheduler.max_tries"),
    ("[close]\n[[pipeline.simulate.failures]]\nstep = 'r0_to_dl1'\n", 2, "pipeline.simulate.failures[0].run"),
    (
        "[pipeline.simulate]\nstep_seconds = { r0_to_dl1 = 1, dl2 = 2 }\n",
        2,
        "pipeline.simulate.step_seconds.dl2",
    ),
]


@pytest.mark.parametrize(("text", "line", "key"), LINES, ids=[f"line-{i}" for i in range(len(LINES))])
def test_the_line_is_where_the_key_is_written(tmp_path: Path, text: str, line: int | None, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == line, str(info.value)
    assert str(info.value).startswith(f"{path}:{line}: {key}: " if line else f"{path}:"), str(info.value)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "osa_core", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.parametrize(
    ("text", "tail"),
    [
        (
            '[night]\nprod_id = "../../../etc"\n',
            "2: night.prod_id: expected a string that is one path component",
        ),
        (
            "[scheduler]\narray_throttle = -1\n",
            "2: scheduler.array_throttle: expected an integer >= 0, got -1",
        ),
        ("[webserver]\nport = 70000\n", "2: webserver.port: expected an integer from 1 to 65535, got 70000"),
        (
            "[scheduler]\noom_memory_factor = nan\n",
            "2: scheduler.oom_memory_factor: expected a number from 1",
        ),
    ],
    ids=["prod-id", "throttle", "port", "nan"],
)
def test_cli_refuses_before_doing_anything(tmp_path: Path, text: str, tail: str) -> None:
    """``submit`` is where a bad value used to do harm (half a submission): it stops at the config,
    with exit code 2 and one line, and nothing is created under the analysis or state paths."""
    path = write(tmp_path, f'{text}[paths]\nanalysis = "work"\nstate = "state"\n')
    result = run_cli("--config", str(path), "submit", "--date", "2020-01-27", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"osa-core: {path}:{tail}"), result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "work").exists() and not (tmp_path / "state").exists()


# --- what is allowed still loads ------------------------------------------------------------------

GOOD = [
    ("[night]\nday_boundary_hour = 0\n", lambda c: c.night.day_boundary_hour == 0),
    ("[night]\nday_boundary_hour = 23\n", lambda c: c.night.day_boundary_hour == 23),
    ('[night]\nprod_id = "v0.12.3_v01+rta"\n', lambda c: c.night.prod_id == "v0.12.3_v01+rta"),
    ("[webserver]\nport = 1\n", lambda c: c.webserver.port == 1),
    ("[webserver]\nport = 65535\n", lambda c: c.webserver.port == 65535),
    ("[webserver]\nretries = 0\nbackoff = 0\n", lambda c: c.webserver.retries == 0),
    ("[scheduler]\nmax_tries = 1\narray_throttle = 0\n", lambda c: c.scheduler.max_tries == 1),
    ("[scheduler]\noom_memory_factor = 1\n", lambda c: c.scheduler.oom_memory_factor == 1.0),
    ("[scheduler]\nrefresh_min = 5.0\nrefresh_max = 5.0\n", lambda c: c.scheduler.refresh_max == 5.0),
    ('[scheduler]\nmemory = "500M"\ncalibration_memory = "16g"\n', lambda c: c.scheduler.memory == "500M"),
    ('[scheduler]\nmemory = "4096"\n', lambda c: c.scheduler.memory == "4096"),
    ('[scheduler]\nwalltime = "30"\n', lambda c: c.scheduler.walltime == "30"),
    ('[scheduler]\nwalltime = "90:00"\n', lambda c: c.scheduler.walltime == "90:00"),
    ('[scheduler]\nwalltime = "48:00:00"\n', lambda c: c.scheduler.walltime == "48:00:00"),
    ('[scheduler]\nwalltime = "1-00"\n', lambda c: c.scheduler.walltime == "1-00"),
    ('[scheduler]\nwalltime = "1-12:30"\n', lambda c: c.scheduler.walltime == "1-12:30"),
    ('[scheduler]\nwalltime = "2-23:59:59"\n', lambda c: c.scheduler.walltime == "2-23:59:59"),
    (
        '[scheduler]\nextra_sbatch_args = ["--qos=short", "-x"]\n',
        lambda c: len(c.scheduler.extra_sbatch_args) == 2,
    ),
    (FAIL + "exit_code = 0\nallocate_mb = 400\n", lambda c: c.pipeline.simulate.failures[0].exit_code == 0),
    (
        '[pipeline.lstchain.executables]\nmerge_dl2 = "/opt/bin/x"\n',
        lambda c: c.pipeline.lstchain.executables == {"merge_dl2": "/opt/bin/x"},
    ),
]


@pytest.mark.parametrize(("text", "check"), GOOD, ids=[f"good-{i}" for i in range(len(GOOD))])
def test_values_at_the_limits_load(tmp_path: Path, text: str, check: typing.Callable[[object], bool]) -> None:
    assert check(load_config(write(tmp_path, text)))


# --- the schema itself ------------------------------------------------------------------------------


def numeric_fields(tp: object, prefix: str = "") -> list[tuple[str, object]]:
    """(dotted key, declared type) of every integer or number field, nested tables included."""
    out: list[tuple[str, object]] = []
    if not (isinstance(tp, type) and issubclass(tp, msgspec.Struct)):
        return out
    for name, hint in typing.get_type_hints(tp, include_extras=True).items():
        if name not in tp.__struct_fields__:
            continue
        dotted = f"{prefix}{name}"
        candidates = [hint]
        if typing.get_origin(hint) in (types.UnionType, typing.Union):
            candidates = [a for a in typing.get_args(hint) if a is not type(None)]
        elif typing.get_origin(hint) in (list, dict):
            candidates = [typing.get_args(hint)[-1]]
        for inner in candidates:
            args = typing.get_args(inner)
            base = args[0] if typing.get_origin(inner) is typing.Annotated else inner
            if base in (int, float):
                out.append((dotted, inner))
            elif isinstance(inner, type) and issubclass(inner, msgspec.Struct):
                out += numeric_fields(inner, dotted + ".")
    return out


def test_every_number_in_the_schema_declares_its_range() -> None:
    """A field added later without limits would let a negative or infinite value through."""
    from osa_core.model.config import ConfigFile

    fields = numeric_fields(ConfigFile)
    keys = dict(fields)
    assert {"scheduler.max_tries", "webserver.port", "pipeline.simulate.failures.attempts"} <= set(keys)
    assert "pipeline.simulate.step_seconds" in keys and len(fields) >= 23
    unbounded = []
    for dotted, tp in fields:
        metas = [m for m in typing.get_args(tp)[1:] if isinstance(m, msgspec.Meta)]
        low = any(m.ge is not None or m.gt is not None for m in metas)
        high = any(m.le is not None or m.lt is not None for m in metas)
        if not (low and high):
            unbounded.append(dotted)
    assert unbounded == []


def test_step_names_are_the_profiles_own(tmp_path: Path) -> None:
    """The schema (model layer) cannot ask the profiles (pipeline layer): this keeps them equal."""
    from osa_core.model import config_schema

    def steps(profile_name: str) -> set[str]:
        profile = get_profile(config_from_dict({"pipeline": {"profile": profile_name}}, tmp_path))
        merges = getattr(profile, "merge_step_names", ())
        closing = getattr(profile, "closing_step_names", ())
        names = (profile.calibration_step_names, profile.subrun_step_names, merges, closing)
        return {name for level in names for name in level}

    assert set(config_schema.SIMULATE_STEPS) == steps("simulate")
    assert set(config_schema.LSTCHAIN_STEPS) == steps("lstchain")


def test_sections_are_frozen_and_changed_by_copy(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[scheduler]\nmax_tries = 5\n"))
    with pytest.raises(AttributeError):
        config.scheduler.max_tries = 0  # type: ignore[misc]
    changed = config.replace(scheduler=config.scheduler.replace(max_tries=2))
    assert (changed.scheduler.max_tries, config.scheduler.max_tries) == (2, 5)
    assert changed.paths == config.paths and changed.source == config.source
    assert SchedulerConfig() == load_config(write(tmp_path, "")).scheduler


# --- the file itself ---------------------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_a_fifo_as_config_is_refused_without_hanging(tmp_path: Path) -> None:
    """Opening a FIFO for reading blocks until a writer comes; none will."""
    fifo = tmp_path / "osa.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as info:
        load_config(fifo)
    assert str(info.value) == f"{fifo}: cannot read configuration: not a regular file"


def test_an_absurdly_large_config_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "# padding\n" * 200_000)
    with pytest.raises(ConfigError, match=r"cannot read configuration: 2000000 bytes \(at most 1000000\)"):
        load_config(path)
