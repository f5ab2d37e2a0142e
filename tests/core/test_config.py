"""The configuration loader on real files: the shipped cfg/osa.toml, files written into tmp_path,
and the CLI as a process for the one-line error an operator reads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from osa_core.model.config import (
    ENV_VAR,
    Config,
    ConfigError,
    Failure,
    config_from_dict,
    find_config_file,
    load_config,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "cfg" / "osa.toml"


def write(tmp_path: Path, text: str | bytes, name: str = "osa.toml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.exit_code == 2
    return str(info.value)


def names_key(message: str, path: Path, key: str) -> bool:
    """``FILE:LINE: key: ...`` (the line where the text writes the key, or its table)."""
    return re.match(rf"{re.escape(str(path))}:\d+: {re.escape(key)}: ", message) is not None


# --- the shipped configuration ------------------------------------------------------------------


def test_shipped_config_loads_with_absolute_normalised_paths() -> None:
    config = load_config(SHIPPED)
    assert config.source == SHIPPED.resolve()
    data = ROOT / "data"
    assert config.paths.raw == data / "raw"
    assert config.paths.analysis == data / "running_analysis"
    assert config.paths.final == data / "final"
    assert config.paths.logs == data / "logs"
    assert config.paths.state == data / "state"
    assert config.paths.night_summary == "../data/raw/{night}/NightSummary_{night}.txt"
    assert config.directory == SHIPPED.parent.resolve()
    for path in (config.paths.raw, config.paths.analysis, config.paths.state):
        assert path.is_absolute() and ".." not in path.parts
    assert config.scheduler.backend == "local"
    assert config.pipeline.profile == "simulate"
    assert config.night_summary_path("20200127") == data / "raw/20200127/NightSummary_20200127.txt"


def test_defaults_without_any_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_VAR, raising=False)
    config = load_config(None)
    assert config.source is None
    assert config.paths.raw == tmp_path / "data" / "raw"
    assert config.scheduler == Config().scheduler


def test_values_are_read_and_typed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [telescope]
        id = 2
        [scheduler]
        backend = "slurm"
        partition = "short"
        oom_memory_factor = 2          # an integer where a number is expected is fine
        extra_sbatch_args = ["--qos=night", "--nice=10"]
        [pipeline.simulate]
        step_seconds = { r0_to_dl1 = 3, dl1_to_dl2 = 0.5 }
        [close]
        keep_subrun_files = false
        """,
    )
    config = load_config(path)
    assert config.telescope.id == 2
    assert config.scheduler.backend == "slurm"
    assert config.scheduler.partition == "short"
    assert config.scheduler.account is None
    assert config.scheduler.oom_memory_factor == 2.0
    assert isinstance(config.scheduler.oom_memory_factor, float)
    assert config.scheduler.extra_sbatch_args == ["--qos=night", "--nice=10"]
    assert config.pipeline.simulate.step_seconds == {"r0_to_dl1": 3.0, "dl1_to_dl2": 0.5}
    assert config.close.keep_subrun_files is False


# --- which file: --config, then $OSA_CONFIG, then cfg/osa.toml --------------------------------------


def test_find_config_file_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = write(tmp_path, "", "explicit.toml")
    from_env = write(tmp_path, "", "env.toml")
    default = write(tmp_path, "", "cfg/osa.toml")
    monkeypatch.chdir(tmp_path)

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert find_config_file(None) == Path("cfg/osa.toml")
    assert find_config_file(None).resolve() == default  # type: ignore[union-attr]

    monkeypatch.setenv(ENV_VAR, str(from_env))
    assert find_config_file(None) == from_env
    assert find_config_file(explicit) == explicit
    assert find_config_file(str(explicit)) == explicit

    monkeypatch.setenv(ENV_VAR, "")  # empty means unset
    assert find_config_file(None) == Path("cfg/osa.toml")

    default.unlink()
    monkeypatch.delenv(ENV_VAR)
    assert find_config_file(None) is None


def test_load_config_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from_env = write(tmp_path, "[telescope]\nid = 7\n", "env.toml")
    explicit = write(tmp_path, "[telescope]\nid = 9\n", "explicit.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_VAR, str(from_env))
    assert load_config(None).telescope.id == 7
    assert load_config(explicit).telescope.id == 9


def test_env_var_pointing_nowhere_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(None)


# --- paths relative to the config file --------------------------------------------------------------


def test_paths_relative_to_the_config_file_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site" / "cfg"
    path = write(
        site,
        """
        [paths]
        raw = "../raw/./night/.."
        analysis = "work"
        final = "/abs/final/../products"
        night_summary = "../raw/{night}/NightSummary_{night}.txt"
        [pipeline.lstchain]
        config = "lstchain.json"
        [webserver]
        known_hosts = "known_hosts"
        """,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path(os.path.relpath(path, elsewhere)))
    assert config.source == path
    assert config.paths.raw == tmp_path / "site" / "raw"
    assert config.paths.analysis == site / "work"
    assert config.paths.final == Path("/abs/products")
    assert config.paths.state == site / "data" / "state"  # a default is relative to the file too
    assert config.night_summary_path("20200127") == tmp_path / "site/raw/20200127/NightSummary_20200127.txt"
    assert config.pipeline.lstchain.config == site / "lstchain.json"
    assert config.pipeline.lstchain.models is None
    assert config.webserver.known_hosts == site / "known_hosts"


def test_home_is_expanded_in_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config(write(tmp_path, '[webserver]\nkey_file = "~/.ssh/id_ed25519"\n'))
    assert config.webserver.key_file == tmp_path / "home" / ".ssh" / "id_ed25519"


def test_config_from_dict_resolves_against_the_base(tmp_path: Path) -> None:
    config = config_from_dict({"paths": {"state": "s/../state"}}, tmp_path)
    assert config.paths.state == tmp_path / "state"
    with pytest.raises(ConfigError, match=r"paths\.bogus: unknown key"):
        config_from_dict({"paths": {"bogus": 1}}, tmp_path)


# --- injected failures ------------------------------------------------------------------------------


def test_simulated_failures_array_of_tables(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[pipeline.simulate.failures]]
        run = 1874
        step = "r0_to_dl1"
        subrun = 3

        [[pipeline.simulate.failures]]
        run = 1875
        step = "dl1_to_dl2"
        attempts = [1, 2]
        exit_code = 137
        """,
    )
    failures = load_config(path).pipeline.simulate.failures
    assert failures == [
        Failure(run=1874, step="r0_to_dl1", subrun=3, attempts=[1], exit_code=3),
        Failure(run=1875, step="dl1_to_dl2", subrun=None, attempts=[1, 2], exit_code=137),
    ]


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (
            '[[pipeline.simulate.failures]]\nrun = 1874\nstep = "r0_to_dl1"\nattempts = [1, "2"]\n',
            "pipeline.simulate.failures[0].attempts[1]",
            "expected an integer >= 1, got '2'",
        ),
        (
            '[[pipeline.simulate.failures]]\nrun = 1874\nstep = "r0_to_dl1"\n'
            '[[pipeline.simulate.failures]]\nrun = 1\nstp = "x"\n',
            "pipeline.simulate.failures[1].stp",
            "unknown key",
        ),
        ("[pipeline.simulate]\nfailures = [3]\n", "pipeline.simulate.failures[0]", "expected a table, got 3"),
        ('[pipeline.simulate]\nfailures = "none"\n', "pipeline.simulate.failures", "expected a list"),
    ],
    ids=["attempt-type", "unknown-key", "not-a-table", "not-a-list"],
)
def test_bad_failures(tmp_path: Path, text: str, key: str, expected: str) -> None:
    path = write(tmp_path, text)
    message = error_of(path)
    assert names_key(message, path, key), message
    assert expected in message


def test_missing_required_failure_key_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[[pipeline.simulate.failures]]\nstep = "r0_to_dl1"\n')
    message = error_of(path)
    assert message.startswith(f"{path}:1: pipeline.simulate.failures[0]")
    assert "run" in message


def test_missing_required_failure_key_names_the_dotted_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[[pipeline.simulate.failures]]\nstep = "r0_to_dl1"\n')
    message = error_of(path)
    assert message.startswith(f"{path}:1: pipeline.simulate.failures[0].run: missing"), message
    assert "an integer >= 0" in message
    assert "__init__" not in message and "positional" not in message


# --- every bad config: the file, the dotted key, what was expected --------------------------------------

BAD = [
    ("unknown-top", "colour = 1\n", "colour", "close, night, paths, pipeline"),
    (
        "unknown-nested",
        '[scheduler]\nbackend = "local"\nmemroy = "4G"\n',
        "scheduler.memroy",
        "unknown key (expected one of: account, array_throttle",
    ),
    ("unknown-deep", '[pipeline.lstchain]\nmodel = "x"\n', "pipeline.lstchain.model", "unknown key"),
    (
        "string-for-int",
        '[telescope]\nid = "one"\n',
        "telescope.id",
        "expected an integer from 1 to 99, got 'one'",
    ),
    (
        "bool-for-int",
        "[scheduler]\nmax_tries = true\n",
        "scheduler.max_tries",
        "expected an integer from 1 to 100, got True",
    ),
    ("float-for-int", "[telescope]\nid = 1.0\n", "telescope.id", "expected an integer from 1 to 99, got 1.0"),
    (
        "int-for-bool",
        "[close]\nkeep_subrun_files = 1\n",
        "close.keep_subrun_files",
        "expected true or false, got 1",
    ),
    ("bool-for-float", "[scheduler]\nrefresh_min = false\n", "scheduler.refresh_min", "expected a number"),
    (
        "list-item",
        '[scheduler]\nextra_sbatch_args = ["--qos=x", 3]\n',
        "scheduler.extra_sbatch_args[1]",
        "expected an option like --qos=short, on one line, got 3",
    ),
    (
        "scalar-for-list",
        '[scheduler]\nextra_sbatch_args = "--qos=x"\n',
        "scheduler.extra_sbatch_args",
        "expected a list, each an option like --qos=short",
    ),
    (
        "table-for-scalar",
        "[scheduler]\nmemory = { size = 4 }\n",
        "scheduler.memory",
        "expected a memory like 4G or 500M",
    ),
    (
        "table-for-scalar-header",
        "[scheduler.walltime]\nhours = 2\n",
        "scheduler.walltime",
        "expected a wall time like 02:00:00",
    ),
    ("scalar-for-table", 'scheduler = "slurm"\n', "scheduler", "expected a table, got 'slurm'"),
    (
        "dict-value",
        '[pipeline.simulate.step_seconds]\nr0_to_dl1 = "slow"\n',
        "pipeline.simulate.step_seconds.r0_to_dl1",
        "expected a number from 0 to 86400, got 'slow'",
    ),
    (
        "dict-of-lists",
        '[pipeline.lstchain.extra_args]\nr0_to_dl1 = ["--a", 1]\n',
        "pipeline.lstchain.extra_args.r0_to_dl1[1]",
        "expected a string, got 1",
    ),
    ("int-for-path", "[paths]\nraw = 3\n", "paths.raw", "expected a path (not empty, on one line), got 3"),
    ("empty-path", '[paths]\nraw = ""\n', "paths.raw", "expected a path (not empty, on one line), got ''"),
    (
        "int-for-optional-path",
        "[pipeline.lstchain]\nmodels = 3\n",
        "pipeline.lstchain.models",
        "expected a path",
    ),
    ("date-for-string", "[night]\nprod_id = 2020-01-27\n", "night.prod_id", "expected a string"),
    (
        "literal-backend",
        '[scheduler]\nbackend = "pbs"\n',
        "scheduler.backend",
        "expected 'local' or 'slurm' or 'pyslurm', got 'pbs'",
    ),
    (
        "literal-profile",
        '[pipeline]\nprofile = "../real"\n',
        "pipeline.profile",
        "expected a string that is one path component",
    ),
    ("source-is-not-a-key", 'source = "x"\n', "source", "unknown key"),
]


@pytest.mark.parametrize(("name", "text", "key", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_file_key_and_expectation(
    tmp_path: Path, name: str, text: str, key: str, expected: str
) -> None:
    path = write(tmp_path, text)
    message = error_of(path)
    assert names_key(message, path, key), message
    assert expected in message, message
    assert "\n" not in message


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[paths]\nraw = "a"\nanalysis = \n[scheduler]\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == 3
    assert str(info.value).startswith(f"{path}:3: not valid TOML")


def test_duplicate_key_is_invalid_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[telescope]\nid = 1\nid = 2\n")
    assert error_of(path).startswith(f"{path}:3: not valid TOML")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert error_of(path) == f"{path}: no such configuration file"


def test_non_utf8_file(tmp_path: Path) -> None:
    path = write(tmp_path, b'[night]\nprod_id = "v\xff1"\n')
    message = error_of(path)
    assert message.startswith(f"{path}: cannot read configuration")
    assert "utf-8" in message


def test_a_directory_is_not_a_config(tmp_path: Path) -> None:
    assert error_of(tmp_path).startswith(f"{tmp_path}: cannot read configuration")


# --- through the CLI, as cron runs it ---------------------------------------------------------------


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "osa_core", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


@pytest.mark.parametrize(
    ("text", "tail"),
    [
        (
            '[scheduler]\nbackend = "pbs"\n',
            "2: scheduler.backend: expected 'local' or 'slurm' or 'pyslurm', got 'pbs'",
        ),
        ("[scheduler]\nbogus = 1\n", "2: scheduler.bogus: unknown key"),
        ('[telescope]\nid = "1"\n', "2: telescope.id: expected an integer from 1 to 99, got '1'"),
        ("[paths\n", "1: not valid TOML"),
    ],
    ids=["literal", "unknown", "type", "toml"],
)
def test_cli_bad_config_is_one_line_and_exit_2(tmp_path: Path, text: str, tail: str) -> None:
    path = write(tmp_path, text)
    result = run_cli("--config", str(path), "status", "--date", "2020-01-27", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"osa-core: {path}:{tail}"), lines[0]
    assert result.stdout == ""


def test_cli_config_from_environment_and_after_the_subcommand(tmp_path: Path) -> None:
    path = write(tmp_path, "[scheduler]\nbogus = 1\n")
    result = run_cli("status", "--date", "2020-01-27", cwd=tmp_path, env={ENV_VAR: str(path)})
    assert (result.returncode, result.stderr) == (
        2,
        f"osa-core: {path}:2: scheduler.bogus: unknown key (expected one of: {_scheduler_keys()})\n",
    )
    result = run_cli("status", "--date", "2020-01-27", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"osa-core: {path}:2: scheduler.bogus")


def test_cli_missing_config(tmp_path: Path) -> None:
    path = tmp_path / "none.toml"
    result = run_cli("--config", str(path), "status", "--date", "2020-01-27", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, f"osa-core: {path}: no such configuration file\n")


def _scheduler_keys() -> str:
    from osa_core.model.config import SchedulerConfig

    return ", ".join(sorted(SchedulerConfig.__struct_fields__))


def test_home_is_expanded_in_the_night_summary_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config(
        write(tmp_path, '[paths]\nnight_summary = "~/raw/{night}/NightSummary_{night}.txt"\n')
    )
    assert config.night_summary_path("20200127") == tmp_path / "home/raw/20200127/NightSummary_20200127.txt"
