"""The configuration's schema: every TOML key, its type, its limits and its meaning, declared once.

msgspec checks a file against these declarations (``osa_core.model.config`` reads it), and
``dev/config_docs.py`` writes ``docs/config/`` from them: the line under a field is its doc, the
``Annotated`` limits beside it are what the docs and every error message say is expected.
A rule that spans fields, or needs more than a range or a pattern, is a ``__post_init__`` that
raises ``ValueError("field: what")`` so the error names that field.
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from msgspec import Meta, Struct, field, structs

from osa_core.model.alert_urls import URL_PATTERN

INT64_MAX = 2**63 - 1
"""SQLite keeps integers in 64 bits: a larger run or count could be planned but never recorded."""
LONG_SECONDS = 86_400.0
"""Upper bound of any interval or timeout: a day. It also refuses ``inf`` (and ``nan`` fails every
comparison), which TOML can spell and which would otherwise wait forever."""

NIGHT_PLACEHOLDERS = {"night": "the night as YYYYMMDD"}
"""The only placeholders ``paths.night_summary`` may hold (``{{`` and ``}}`` are literal braces)."""

SIMULATE_STEPS = (
    "drs4_baseline",
    "charge_calibration",
    "time_calibration",
    "r0_to_dl1",
    "dl1_datacheck",
    "muon_analysis",
    "dl1_to_dl2",
)
"""Step names of the ``simulate`` profile; tests/core/test_config_limits.py holds the profiles to them."""
LSTCHAIN_STEPS = (
    "gain_selection",
    *SIMULATE_STEPS,
    "merge_dl1",
    "catb_calibration",
    "find_tailcuts",
    "dl1ab",
    "merge_dl2",
    "dl1ab_to_dl2",
    "merge_muons",
    "datacheck_run",
    "longterm_check",
    "cherenkov_transparency",
)
"""Step names of the ``lstchain`` profile, the closer's run-wise and night-wise steps included."""


def _expect(phrase: str, pattern: str) -> Meta:
    """A pattern with the words an error uses for it (a regex means nothing to an operator)."""
    return Meta(pattern=pattern, extra={"expected": phrase})


def _one_of(what: str, names: tuple[str, ...]) -> Meta:
    """A name from a fixed list; a plain ``str`` to the code that reads it (a dict key is looked up
    with any step name), checked against the list when the file is read."""
    return _expect(f"{what} ({', '.join(names)})", pattern=r"\A(" + "|".join(names) + r")\Z")


Count = Annotated[int, Meta(ge=0, le=INT64_MAX)]
AtLeastOne = Annotated[int, Meta(ge=1, le=INT64_MAX)]
Seconds = Annotated[float, Meta(ge=0, le=LONG_SECONDS)]
PositiveSeconds = Annotated[float, Meta(gt=0, le=LONG_SECONDS)]
# Below 1 a resubmission would ask for less than what was not enough; above 100 is a typo.
Factor = Annotated[float, Meta(ge=1, le=100)]
Hour = Annotated[int, Meta(ge=0, le=23)]
Port = Annotated[int, Meta(ge=1, le=65535)]
ExitCode = Annotated[int, Meta(ge=0, le=255)]
PathComponent = Annotated[
    str,
    _expect(
        "a string that is one path component: letters, digits and . _ + - (not starting with . or -)",
        pattern=r"\A[A-Za-z0-9_][A-Za-z0-9._+-]{0,99}\Z",
    ),
]
Memory = Annotated[
    str,
    _expect(
        "a memory like 4G or 500M (a whole number, more than 0)",
        pattern=r"\A0*[1-9][0-9]{0,8}[KMGTkmgt]?\Z",
    ),
]
WallTime = Annotated[
    str,
    _expect(
        "a wall time like 02:00:00 or 1-00:00:00 (minutes and seconds below 60, hours below 24 after a day)",
        # [0-9], not \d: Python's \d also takes other scripts' digits, which sbatch does not.
        pattern=r"\A([0-9]{1,6}(:[0-5][0-9]){0,2}|[0-9]{1,4}-([01]?[0-9]|2[0-3])(:[0-5][0-9]){0,2})\Z",
    ),
]
Word = Annotated[str, _expect("a non-empty word without spaces", pattern=r"\A\S{1,200}\Z")]
SbatchArgument = Annotated[
    str, _expect("an option like --qos=short, on one line", pattern=r"\A--?[A-Za-z][^\n\r]{0,500}\Z")
]
SimulateStep = Annotated[str, _one_of("a step of the simulate profile", SIMULATE_STEPS)]
LstchainStep = Annotated[str, _one_of("a step of the lstchain profile", LSTCHAIN_STEPS)]
HostName = Annotated[str, _expect("a host name or address, without spaces", pattern=r"\A[^\s/]{0,253}\Z")]
UserName = Annotated[str, _expect("a user name, without spaces", pattern=r"\A[^\s:/]{0,64}\Z")]
OneLine = Annotated[str, _expect("a string on one line", pattern=r"\A[^\n\r]{0,4096}\Z")]
NonEmpty = Annotated[str, _expect("a non-empty string on one line", pattern=r"\A[^\n\r]{1,4096}\Z")]
RemoteDirectory = Annotated[str, _expect("an absolute path on one line", pattern=r"\A/[^\n\r]{0,4095}\Z")]
NightTemplate = Annotated[str, _expect("a path (placeholders: {night})", pattern=r"\A[^\n\r]{1,4096}\Z")]
AlertUrl = Annotated[
    str,
    _expect(
        "an apprise URL, SCHEME://..., with a scheme apprise knows (mailto, mailtos, json, jsons, mmost, "
        "slack, matrix, tgram, ...: see docs/alerts.md) and no spaces",
        pattern=URL_PATTERN,
    ),
]


class Section(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A TOML table: frozen, typed, and no key it does not declare."""

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (what ``dataclasses.replace`` did for the dataclasses)."""
        return structs.replace(self, **changes)


class PathsConfig(Section, frozen=True, kw_only=True):
    raw: Path = Path("data/raw")
    """Raw (R0) data; a night's files are in ``raw/YYYYMMDD/``."""
    analysis: Path = Path("data/running_analysis")
    """Work area: ``analysis/YYYYMMDD/<prod_id>/`` holds scripts, subrun products and job logs."""
    final: Path = Path("data/final")
    """Final places of merged products: ``final/<level>/YYYYMMDD/<prod_id>/``."""
    logs: Path = Path("data/logs")
    """The engine's own log files (one per night)."""
    state: Path = Path("data/state")
    """Night ledgers, locks and the local backend's spool."""
    night_summary: NightTemplate = "data/raw/{night}/NightSummary_{night}.txt"
    """Where the night file is, relative to the config file. ``{night}`` (YYYYMMDD) is the only
    placeholder, filled in this value only; ``{{`` and ``}}`` are literal braces."""

    def __post_init__(self) -> None:
        placeholder_problem = check_template(self.night_summary, NIGHT_PLACEHOLDERS)
        if placeholder_problem:
            raise ValueError(f"night_summary: {placeholder_problem}")


class TelescopeConfig(Section, frozen=True, kw_only=True):
    id: Annotated[int, Meta(ge=1, le=99)] = 1
    """Telescope id (1 for LST-1): used in file names and job names."""


class NightConfig(Section, frozen=True, kw_only=True):
    prod_id: PathComponent = "v0.1.0"
    """Production id: a night is processed into ``analysis/YYYYMMDD/<prod_id>/``, so it is one path
    component (``../x`` would put products outside the analysis directory)."""
    day_boundary_hour: Hour = 12
    """A run started before this hour (UTC) belongs to the previous date's night."""


class SchedulerConfig(Section, frozen=True, kw_only=True):
    backend: Literal["local", "slurm", "pyslurm"] = "local"
    """Which scheduler runs the jobs."""
    partition: Word | None = None
    """SLURM partition (``--partition``); none: the cluster's default."""
    account: Word | None = None
    """SLURM account (``--account``)."""
    memory: Memory = "4G"
    """Memory per data task (``--mem``)."""
    walltime: WallTime = "02:00:00"
    """Wall-time limit per data task (``--time``)."""
    calibration_memory: Memory = "8G"
    """Memory of the calibration job."""
    calibration_walltime: WallTime = "01:00:00"
    """Wall-time limit of the calibration job."""
    array_throttle: Count = 0
    """At most this many tasks of one array at once (``%N``); 0: no limit."""
    local_slots: Annotated[int, Meta(ge=0, le=4096)] = 0
    """Slots of the local backend; 0: the number of CPUs."""
    max_tries: Annotated[int, Meta(ge=1, le=100)] = 3
    """A subrun is not resubmitted past this many attempts (``--force`` overrides)."""
    oom_memory_factor: Factor = 1.5
    """Memory is multiplied by this when resubmitting a task that ran out of memory."""
    timeout_walltime_factor: Factor = 1.5
    """Wall time is multiplied by this when resubmitting a task that timed out."""
    command_timeout: PositiveSeconds = 30.0
    """Seconds to wait for any scheduler command before calling the scheduler unreachable."""
    refresh_min: PositiveSeconds = 2.0
    """Shortest refresh interval (seconds) while tasks change; at most ``refresh_max``."""
    refresh_max: PositiveSeconds = 30.0
    """Longest refresh interval (seconds) when nothing changes."""
    extra_sbatch_args: list[SbatchArgument] = field(default_factory=list)
    """Extra ``#SBATCH`` arguments, one per item (e.g. ``--qos=short``)."""

    def __post_init__(self) -> None:
        if self.refresh_min > self.refresh_max:
            raise ValueError(
                f"refresh_min: expected at most refresh_max ({self.refresh_max:g}), got {self.refresh_min:g}"
            )
        for name in ("walltime", "calibration_walltime"):
            if not any(c in "123456789" for c in getattr(self, name)):
                raise ValueError(f"{name}: expected more than zero, got {getattr(self, name)!r}")


class Failure(Section, frozen=True, kw_only=True):
    run: Count
    """The run whose task fails."""
    step: SimulateStep
    """The step that fails."""
    subrun: Count | None = None
    """The subrun that fails; none: every subrun of the run."""
    attempts: list[AtLeastOne] = field(default_factory=lambda: [1])
    """The attempts on which it fails (1 = the first submission)."""
    exit_code: ExitCode = 3
    """The exit code of the failing step."""
    allocate_mb: Annotated[int, Meta(ge=0, le=1_048_576)] = 0
    """Also hold this much memory during the step (to exceed the task's memory request), for at least
    20 s: until a limit that is polled has seen it."""


class SimulateConfig(Section, frozen=True, kw_only=True):
    step_seconds: dict[SimulateStep, Seconds] = field(default_factory=dict)
    """Seconds each step waits, by step name; steps not listed take ``default_seconds``."""
    default_seconds: Seconds = 1.0
    """Seconds a step waits when ``step_seconds`` does not name it."""
    max_subruns: Count = 0
    """Process at most this many subruns per run (demos, tests); 0: all."""
    failures: list[Failure] = field(default_factory=list)
    """Injected failures: ``{run, step, subrun, attempts, exit_code}``."""


class LstchainConfig(Section, frozen=True, kw_only=True):
    config: Path | None = None
    """lstchain JSON config passed to the R0->DL1 and DL1->DL2 steps; none: lstchain's standard."""
    models: Path | None = None
    """Directory of trained random-forest models for DL1->DL2; none: the DL2 step is skipped."""
    pointing: Path | None = None
    """Drive/pointing file for R0->DL1 (``--pointing-file``) where configured."""
    run_summary_dir: Path | None = None
    """RunSummary directory passed to R0->DL1 where configured."""
    run_catalog_dir: Path | None = None
    """Directory of the run catalogues (``RunCatalog_YYYYMMDD.ecsv``: each run's source and pointing
    declination); not set: ``RunCatalog/`` beside ``run_summary_dir``, as at LST-1."""
    executables: dict[LstchainStep, NonEmpty] = field(default_factory=dict)
    """Override the executable of a step, by step name."""
    extra_args: dict[LstchainStep, list[str]] = field(default_factory=dict)
    """Extra arguments appended to a step's command, by step name."""
    max_events: Count = 0
    """Process at most this many events per subrun (tests); 0: all."""


class CalibrationConfig(Section, frozen=True, kw_only=True):
    drs4: Path | None = None
    """An existing DRS4 baseline file: used instead of computing one."""
    charge: Path | None = None
    """An existing charge calibration file: used instead of computing one."""
    time: Path | None = None
    """An existing time calibration file: used instead of computing one."""

    @property
    def external(self) -> bool:
        return any(p is not None for p in (self.drs4, self.charge, self.time))


class PipelineConfig(Section, frozen=True, kw_only=True):
    profile: PathComponent = "simulate"
    """Which profile file runs: ``NAME`` is ``profiles/NAME.toml`` beside the configuration file, else
    the one shipped (``simulate``: placeholders, labelled SIMULATION; ``lstchain``). Checked when the
    profile is read: an unknown name lists the profiles that exist."""
    stages: dict[Word, bool] = field(default_factory=dict)
    """Turn a profile's optional stages on or off (``{ gain_selection = false }``); a stage not named
    keeps the profile file's default. A name the profile does not have is an error when it is read."""
    simulate: SimulateConfig = field(default_factory=SimulateConfig)
    lstchain: LstchainConfig = field(default_factory=LstchainConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    runner: OneLine = ""
    """The command job scripts call back into (e.g. ``/opt/osa/bin/osa-core``); empty: the Python
    interpreter that submits, as ``python -m osa_core`` (right when the cluster shares its path)."""


class CloseConfig(Section, frozen=True, kw_only=True):
    keep_subrun_files: bool = True
    """Keep subrun products after their merged file is verified."""
    provenance_checksum_max_mib: Annotated[float, Meta(ge=0, le=1_000_000)] = 1024.0
    """The provenance record gives the sha256 of each file up to this size (MiB); a bigger one
    gets its size and modification time only, and says so. Raw R0 files are the big ones: at
    ~300 MB/s, hashing a night's raw data would hold the closing for hours. 0: hash every file."""


class WebServerConfig(Section, frozen=True, kw_only=True):
    host: HostName = ""
    """The datacheck web server. Empty: pushing is not configured, and ``osa-core push`` stops with
    exit code 2."""
    port: Port = 22
    """Its SSH port. On another port than 22 the known_hosts entry is named ``[host]:port``, as
    OpenSSH does."""
    user: UserName = ""
    """The account on the server. Empty: the local user name of whoever runs the push."""
    key_file: Path | None = None
    """Private key for the login. Not set: the keys in the SSH agent (``$SSH_AUTH_SOCK``). Keys in
    ``~/.ssh`` are never tried on their own, and a password is never used. A passphrase-protected
    key must go through the agent."""
    known_hosts: Path | None = None
    """The known_hosts file the server's host key is verified against, and the only one: the
    user's ``~/.ssh/known_hosts`` is not read. Required to push. ``osa-core push --trust-host-key``
    records a key in it (and creates it)."""
    root: RemoteDirectory = "/datacheck"
    """Remote directory holding ``drs4/``, ``enf_calibration/`` and ``dl1/``. Must be absolute and
    must exist on the server; the directories below it are created as needed."""
    retries: Annotated[int, Meta(ge=0, le=100)] = 4
    """Reconnect this many times after a failed or dropped connection before giving up (exit code
    9). Starts afresh once a file gets through. ``0``: no retry."""
    backoff: Seconds = 2.0
    """Seconds before the first retry; doubled on each further one (2, 4, 8, 16 s with the
    defaults)."""
    timeout: PositiveSeconds = 20.0
    """Seconds to wait for the server: to connect, for its banner, for the login, and for each
    answer during a transfer. A server silent for longer counts as a dropped connection."""


class AlertsConfig(Section, frozen=True, kw_only=True):
    urls: list[AlertUrl] = field(default_factory=list)
    """Where alerts go, in apprise's URL syntax, one message per URL (mail, Mattermost, Slack,
    Matrix, Telegram, JSON webhooks...; see ``docs/alerts.md``). Empty: incidents are kept in the
    ledger and listed by ``osa-core alerts``, and nothing is sent."""
    subject_prefix: OneLine = "[OSA LST-1]"
    """Put before every alert's subject, so that mail filters and channels can tell them apart."""
    min_free_gib: Annotated[float, Meta(ge=0, le=1_000_000)] = 50.0
    """An incident opens when the analysis or the final directory's file system has less free
    space than this (GiB); 0: disk space is not checked."""
    close_by_hour: Hour = 15
    """An incident opens when a night with sequences is not closed by this hour (UTC) of the day
    after the night's date."""


class AutopilotConfig(Section, frozen=True, kw_only=True):
    lookback_days: Annotated[int, Meta(ge=0, le=60)] = 3
    """Without ``--date``, a pass looks at tonight and at every unfinished night of this many days
    before it (a night is finished once closed and pushed)."""
    raw_grace_minutes: Annotated[float, Meta(ge=0, le=1440)] = 30.0
    """A run whose raw files are still incomplete this many minutes after it ended (the next run's
    start, or the night file's last change for the last run) is reported, not submitted."""
    max_tries: Annotated[int, Meta(ge=1, le=100)] = 3
    """A failure worth retrying is resubmitted until a subrun has had this many attempts (a
    person's resubmissions count)."""
    retry_patterns: list[NonEmpty] = field(default_factory=list)
    """A plain failure (FAILED) is retried too when its failed step's message contains one of these
    texts (e.g. ``Stale file handle``); OUT_OF_MEMORY, TIMEOUT and NODE_FAIL always are."""
    quiet_minutes: Annotated[float, Meta(ge=0, le=1440)] = 30.0
    """Data taking is over when the night file has not changed for this many minutes."""
    close_after_hour: Hour = 8
    """The night is not closed before this hour (UTC) of the morning after it started."""
    close_incomplete: bool = False
    """Close a night whose subruns failed past ``max_tries``, excluding their runs as
    ``close --force`` does (the decision says so); false: such a night waits for a person."""
    page_minutes: Annotated[float, Meta(ge=0, le=1440)] = 10.0
    """During the night, rebuild and push the night page when it changed, at most this often."""
    scheduler_silent_minutes: Annotated[float, Meta(ge=0, le=1440)] = 15.0
    """A scheduler that has not answered for this many minutes is a condition."""
    lock_wait: Annotated[float, Meta(ge=0, le=600)] = 5.0
    """Seconds the autopilot waits for a night's lock; a night whose lock a person holds longer is
    skipped for this pass (and said so)."""
    max_pending_tasks: Annotated[int, Meta(ge=0, le=10_000_000)] = 0
    """Our pending tasks (jobs named for this telescope, every night together) never exceed this:
    a submission that would go over waits for a later pass, the runs that fit go first, in order.
    Counted with one scheduler call per pass. 0: no limit."""
    disk_margin_gib: Annotated[float, Meta(ge=0, le=1_000_000)] = 0.0
    """Before submitting or closing, the analysis and final file systems must hold the bytes it
    needs and this many GiB to spare; short of it the action waits, with a ``disk_low`` alert."""
    bytes_per_subrun: Annotated[int, Meta(ge=0, le=1_000_000_000_000)] = 0
    """What a subrun writes, for the disk guard's estimate before any subrun of the night has
    finished (afterwards: the night's analysis directory over its finished subruns)."""
    watch_min_seconds: Annotated[float, Meta(ge=1, le=LONG_SECONDS)] = 60.0
    """``--watch``: seconds between passes while something happens."""
    watch_max_seconds: Annotated[float, Meta(ge=1, le=LONG_SECONDS)] = 600.0
    """``--watch``: the longest wait between passes of a quiet night (the interval grows by half
    after each pass that did nothing)."""

    def __post_init__(self) -> None:
        if self.watch_min_seconds > self.watch_max_seconds:
            raise ValueError(
                f"watch_min_seconds: expected at most watch_max_seconds ({self.watch_max_seconds:g}),"
                f" got {self.watch_min_seconds:g}"
            )


class ConfigFile(Section, frozen=True, kw_only=True):
    """What a configuration file may say: these tables and nothing else."""

    paths: PathsConfig = field(default_factory=PathsConfig)
    telescope: TelescopeConfig = field(default_factory=TelescopeConfig)
    night: NightConfig = field(default_factory=NightConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    close: CloseConfig = field(default_factory=CloseConfig)
    webserver: WebServerConfig = field(default_factory=WebServerConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    autopilot: AutopilotConfig = field(default_factory=AutopilotConfig)


class Config(ConfigFile, frozen=True, kw_only=True):
    """The configuration the engine runs with: the file's tables, and where the file was."""

    source: Path | None = None
    """The file this was read from (not a TOML key)."""
    directory: Path | None = None
    """The directory relative paths are relative to: the file's (not a TOML key); none: the
    working directory."""

    def night_summary_path(self, night: str) -> Path:
        """The night file of ``night`` (YYYYMMDD): placeholders are filled in the configured value
        only, then it is made absolute; the config's own directory is never parsed for braces."""
        value = os.path.expanduser(fill_template(self.paths.night_summary, {"night": night}))
        base = self.directory if self.directory is not None else Path.cwd()
        return Path(os.path.normpath(base / value))


def check_template(template: str, placeholders: dict[str, str]) -> str | None:
    """What is wrong with a ``{name}`` template, or None. Parsing only: nothing is evaluated."""
    allowed = ", ".join(f"{{{name}}}" for name in placeholders)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:  # a lone brace; the parser's own words say which
        return f"{exc} (write {{{{ or }}}} for a literal brace; placeholders: {allowed})"
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        written = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if name not in placeholders or spec or conversion:
            return f"unknown placeholder {written} (placeholders: {allowed})"
    return None


def fill_template(template: str, values: dict[str, str]) -> str:
    """Replace the placeholders of a template :func:`check_template` accepted, and nothing else."""
    out = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(values[name])
    return "".join(out)
