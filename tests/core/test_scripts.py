"""Job scripts: SLURM's array syntax, the ``#SBATCH`` header, and a body that bash runs with every
value arriving intact at the runner (checked by running the script with a fake runner)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osa_core.jobs.scripts import render_script, runner_command
from osa_core.model.arrays import index_spec
from osa_core.model.config import Config, load_config
from osa_core.model.errors import OsaError
from osa_core.model.layout import NightLayout
from osa_core.model.records import Sequence
from osa_core.model.states import SequenceType

NIGHT = dt.date(2020, 1, 27)
NOW = dt.datetime(2020, 1, 28, 8, 30, tzinfo=dt.UTC)
CALIBRATION = Sequence(seq=0, type=SequenceType.CALIBRATION, run=1873, subruns=1, parent=None, drs4_run=1872)
DATA = Sequence(seq=1, type=SequenceType.DATA, run=1874, subruns=194, parent=0)
ORPHAN = Sequence(seq=2, type=SequenceType.DATA, run=1880, subruns=3, parent=None)

# A directory name bash would happily evaluate if it ever reached it unquoted.
HOSTILE = "night dir 'q' \"dq\" $(touch PWNED_SUBST) `touch PWNED_TICK` ; touch PWNED_SEMI $HOME *"


# --- index_spec -------------------------------------------------------------------------------------


def expand(spec: str) -> tuple[set[int], int]:
    """SLURM's reading of an ``--array`` value: the indices and the throttle (0: none)."""
    throttle = 0
    if "%" in spec:
        spec, _, limit = spec.partition("%")
        throttle = int(limit)
    out: set[int] = set()
    for part in filter(None, spec.split(",")):
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out, throttle


@pytest.mark.parametrize(
    ("indices", "throttle", "expected"),
    [
        (range(6), 0, "0-5"),
        ([0], 0, "0"),
        ([3, 17, 42], 0, "3,17,42"),
        ([0, 1, 2, 3, 4, 5, 9, 12, 13], 0, "0-5,9,12-13"),
        ([13, 12, 9, 5, 4, 3, 2, 1, 0], 0, "0-5,9,12-13"),
        ([4, 4, 3, 3, 5, 5], 0, "3-5"),
        (range(200), 10, "0-199%10"),
        ([7, 1, 2], 3, "1-2,7%3"),
        ([1, 2], -1, "1-2"),
    ],
)
def test_index_spec(indices: list[int], throttle: int, expected: str) -> None:
    assert index_spec(indices, throttle) == expected


def test_index_spec_ranges_are_maximal() -> None:
    spec = index_spec([1, 2, 3, 5, 6, 8])
    assert spec == "1-3,5-6,8"
    assert all(p.count("-") <= 1 for p in spec.split(","))


@given(st.sets(st.integers(0, 5000), min_size=1, max_size=300), st.integers(0, 50), st.randoms())
def test_index_spec_round_trip(indices: set[int], throttle: int, rnd: object) -> None:
    shuffled = list(indices) * 2
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    spec = index_spec(shuffled, throttle)
    assert expand(spec) == (indices, throttle)
    # Ranges and singles are ascending and never adjacent: the shortest spec.
    bounds = [expand(p)[0] for p in spec.split("%")[0].split(",")]
    for before, after in itertools.pairwise(bounds):
        assert max(before) + 1 < min(after)


# --- render_script ------------------------------------------------------------------------------------


def make_config(directory: Path, extra: str = "") -> Config:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "osa.toml"
    path.write_text(
        '[night]\nprod_id = "v0.9"\n'
        '[scheduler]\nmemory = "6G"\nwalltime = "03:00:00"\ncalibration_memory = "9G"\n'
        'calibration_walltime = "00:45:00"\npartition = "short"\naccount = "lst"\n' + extra
    )
    return load_config(path)


def sbatch_options(script: str) -> dict[str, str]:
    options = {}
    for line in script.splitlines():
        if line.startswith("#SBATCH "):
            key, _, value = line[len("#SBATCH ") :].partition("=")
            options[key] = value[1:-1] if value.startswith('"') and value.endswith('"') else value
    return options


def test_data_script_header(tmp_path: Path) -> None:
    config = make_config(tmp_path, 'array_throttle = 20\nextra_sbatch_args = ["--qos=night"]\n')
    layout = NightLayout(config, NIGHT)
    script = render_script(config, layout, DATA, CALIBRATION, now=NOW)
    assert script.startswith("#!/bin/bash\n")
    options = sbatch_options(script)
    analysis = tmp_path / "data" / "running_analysis" / "20200127" / "v0.9"
    assert options == {
        "--job-name": "LST1_01874_20200127",
        "--comment": "osa night 20200127 seq 1 prod v0.9",
        "--chdir": str(analysis),
        "--output": f"{analysis}/log/Run01874.%4a_jobid_%A.out",
        "--error": f"{analysis}/log/Run01874.%4a_jobid_%A.err",
        "--mem": "6G",
        "--time": "03:00:00",
        "--partition": "short",
        "--account": "lst",
        "--array": "0-193%20",
        "--qos": "night",
    }
    assert "2020-01-28T08:30:00+00:00" in script
    last = script.rstrip("\n").splitlines()[-1]
    runner = " ".join(shlex.quote(w) for w in runner_command(config))
    assert last == (
        f"exec {runner} --config {config.source} run-subrun --date 2020-01-27 --seq 1 --run 1874"
        ' --drs4-run 1872 --pedcal-run 1873 --subrun "${SLURM_ARRAY_TASK_ID}" "$@"'
    )


def test_calibration_script_header(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    layout = NightLayout(config, NIGHT)
    script = render_script(config, layout, CALIBRATION, None, now=NOW)
    options = sbatch_options(script)
    assert "--array" not in options
    assert options["--job-name"] == "LST1_01873_20200127"
    assert options["--mem"] == "9G"
    assert options["--time"] == "00:45:00"
    assert options["--output"].endswith("/log/Run01873_jobid_%j.out")
    assert options["--error"].endswith("/log/Run01873_jobid_%j.err")
    assert "SLURM_ARRAY_TASK_ID" not in script
    assert script.rstrip("\n").endswith(
        'run-calibration --date 2020-01-27 --seq 0 --drs4-run 1872 --pedcal-run 1873 "$@"'
    )


def test_no_partition_or_account_lines_when_unset(tmp_path: Path) -> None:
    (tmp_path / "osa.toml").write_text("")
    config = load_config(tmp_path / "osa.toml")
    options = sbatch_options(render_script(config, NightLayout(config, NIGHT), DATA, CALIBRATION))
    assert "--partition" not in options and "--account" not in options
    assert options["--array"] == "0-193"
    assert options["--mem"] == "4G"


def test_data_without_parent_passes_no_calibration_runs(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    script = render_script(config, NightLayout(config, NIGHT), ORPHAN, None)
    assert "--drs4-run" not in script and "--pedcal-run" not in script
    assert sbatch_options(script)["--array"] == "0-2"


def test_a_script_needs_a_config_file(tmp_path: Path) -> None:
    config = Config()
    with pytest.raises(ValueError, match="configuration file"):
        render_script(config, NightLayout(config, NIGHT), DATA, CALIBRATION)


def test_runner_defaults_to_this_interpreter(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert runner_command(config) == [sys.executable, "-m", "osa_core"]
    config = make_config(tmp_path, "[pipeline]\nrunner = \"'/opt/o s a/bin/osa-core' --verbose\"\n")
    assert runner_command(config) == ["/opt/o s a/bin/osa-core", "--verbose"]


# --- the script under bash, with a fake runner that prints its argv ---------------------------------------

FAKE_RUNNER = """\
import json, os, sys
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd()}))
"""


def hostile_setup(tmp_path: Path) -> tuple[Config, Path]:
    """A config, a fake runner and the night's directories, all under a hostile directory name."""
    site = tmp_path / HOSTILE
    site.mkdir()
    fake = site / "fake runner $(touch PWNED_RUNNER).py"
    fake.write_text(FAKE_RUNNER)
    runner = f"{shlex.quote(sys.executable)} {shlex.quote(str(fake))}"
    config = make_config(site, f"[pipeline]\nrunner = {json.dumps(runner)}\n")
    assert config.source is not None and HOSTILE in str(config.source)
    return config, site


def run_script(
    tmp_path: Path, script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "job.sh"
    path.write_text(script)
    check = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    return subprocess.run(
        ["bash", str(path), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def assert_nothing_evaluated(tmp_path: Path) -> None:
    assert not [p for p in tmp_path.rglob("PWNED*") if p.is_file()]


def test_data_script_delivers_argv_intact(tmp_path: Path) -> None:
    config, _ = hostile_setup(tmp_path)
    script = render_script(config, NightLayout(config, NIGHT), DATA, CALIBRATION)
    extra = ["--attempt-map", "7=2", "an arg with spaces", "$(touch PWNED_ARG)"]
    result = run_script(tmp_path, script, *extra, env={"SLURM_ARRAY_TASK_ID": "7"})
    assert result.returncode == 0, result.stderr
    argv = json.loads(result.stdout)["argv"]
    assert argv == [
        "--config",
        str(config.source),
        "run-subrun",
        "--date",
        "2020-01-27",
        "--seq",
        "1",
        "--run",
        "1874",
        "--drs4-run",
        "1872",
        "--pedcal-run",
        "1873",
        "--subrun",
        "7",
        *extra,
    ]
    assert_nothing_evaluated(tmp_path)


def test_calibration_script_delivers_argv_intact(tmp_path: Path) -> None:
    config, _ = hostile_setup(tmp_path)
    script = render_script(config, NightLayout(config, NIGHT), CALIBRATION, None)
    result = run_script(tmp_path, script)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["argv"] == [
        "--config",
        str(config.source),
        "run-calibration",
        "--date",
        "2020-01-27",
        "--seq",
        "0",
        "--drs4-run",
        "1872",
        "--pedcal-run",
        "1873",
    ]
    assert_nothing_evaluated(tmp_path)


def test_data_script_without_array_index_does_not_call_the_runner(tmp_path: Path) -> None:
    config, _ = hostile_setup(tmp_path)
    script = render_script(config, NightLayout(config, NIGHT), DATA, CALIBRATION)
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    path = tmp_path / "job.sh"
    path.write_text(script)
    result = subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode != 0
    assert "SLURM_ARRAY_TASK_ID" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "extra",
    [
        '[night]\nprod_id = "v1\\ntouch PWNED_NEWLINE"\n',
        '[scheduler]\npartition = "short\\ntouch PWNED_NEWLINE"\n',
        '[scheduler]\nextra_sbatch_args = ["--qos=x\\ntouch PWNED_NEWLINE"]\n',
        '[scheduler]\nextra_sbatch_args = ["--exclusive\\ntouch PWNED_NEWLINE"]\n',
    ],
    ids=["prod_id", "partition", "extra_sbatch_args", "extra_sbatch_args-without-value"],
)
def test_newline_in_a_config_value_never_reaches_bash(tmp_path: Path, extra: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    fake = site / "fake.py"
    fake.write_text(FAKE_RUNNER)
    runner = f"{shlex.quote(sys.executable)} {shlex.quote(str(fake))}"
    config_text = f"[pipeline]\nrunner = {json.dumps(runner)}\n{extra}"
    try:
        (site / "osa.toml").write_text(config_text)
        config = load_config(site / "osa.toml")
        script = render_script(config, NightLayout(config, NIGHT), DATA, CALIBRATION)
    except (OsaError, ValueError):
        return  # refusing such a value is a fix too
    run_script(tmp_path, script, env={"SLURM_ARRAY_TASK_ID": "0"})
    assert_nothing_evaluated(tmp_path)


# --- the header as sbatch reads it --------------------------------------------------------------------


def sbatch_directive_words(line: str) -> list[str]:
    """How sbatch 22.05 reads the rest of a ``#SBATCH`` line (each rule seen with ``sbatch --hold``
    and ``scontrol show job``): whitespace outside double quotes separates words; double quotes are
    removed; a backslash is removed and keeps the next character (``\\\\`` -> ``\\``, ``\\"``
    -> ``"``) but does not protect a space; ``#`` outside quotes ends the line. Each word is an option.
    """
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i].isspace():
            i += 1
        if i >= n or line[i] == "#":
            break
        word: list[str] = []
        quoted = escaped = False
        while i < n and (quoted or not line[i].isspace()):
            char = line[i]
            i += 1
            if escaped:
                word.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = not quoted
            elif char == "#" and not quoted:
                i = n
                break
            else:
                word.append(char)
        words.append("".join(word))
    return words


def test_sbatch_directive_words_emulation() -> None:
    assert sbatch_directive_words("--mem=4G") == ["--mem=4G"]
    assert sbatch_directive_words('--chdir="/a b/c"') == ["--chdir=/a b/c"]
    assert sbatch_directive_words("--chdir=/a b/c") == ["--chdir=/a", "b/c"]
    assert sbatch_directive_words("--output=/a/hash#dir/x") == ["--output=/a/hash"]
    assert sbatch_directive_words('--output="/a/hash#dir/x"') == ["--output=/a/hash#dir/x"]
    assert sbatch_directive_words('--output="/a/back\\slash"') == ["--output=/a/backslash"]
    assert sbatch_directive_words('--output="/a/back\\\\slash"') == ["--output=/a/back\\slash"]
    assert sbatch_directive_words('--comment=q\\"r') == ['--comment=q"r']
    assert sbatch_directive_words("--comment=a\\ b") == ["--comment=a", "b"]


@pytest.mark.parametrize(
    "directory",
    [
        "site",
        "night dir",
        "hash#dir",
        "back\\slash",
    ],
)
def test_sbatch_reads_each_directive_as_written(tmp_path: Path, directory: str) -> None:
    config = make_config(tmp_path / directory)
    layout = NightLayout(config, NIGHT)
    script = render_script(config, layout, DATA, CALIBRATION)
    expected = {
        "--comment": f"osa night 20200127 seq {DATA.seq} prod v0.9",
        "--chdir": str(layout.analysis_dir),
        "--output": layout.task_stdout_pattern(DATA.run, True),
        "--error": layout.task_stderr_pattern(DATA.run, True),
    }
    seen = set()
    for line in script.splitlines():
        if line.startswith("#SBATCH "):
            words = sbatch_directive_words(line[len("#SBATCH ") :])
            assert len(words) == 1, line
            key, _, value = words[0].partition("=")
            if key in expected:
                assert value == expected[key], line
                seen.add(key)
    assert seen == set(expected)


@pytest.mark.slurm
@pytest.mark.parametrize("directory", ["site", "night dir"])
def test_real_sbatch_accepts_the_script(tmp_path: Path, slurm_cluster: str, directory: str) -> None:
    """``sbatch --test-only`` parses the script's directives and submits nothing."""
    site = tmp_path / directory
    site.mkdir()
    (site / "osa.toml").write_text('[scheduler]\nmemory = "100M"\nwalltime = "00:05:00"\n')
    config = load_config(site / "osa.toml")
    layout = NightLayout(config, NIGHT)
    layout.make_dirs()
    path = site / "job.sh"
    path.write_text(render_script(config, layout, ORPHAN, None))
    result = subprocess.run(
        ["sbatch", "--test-only", f"--partition={slurm_cluster}", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
