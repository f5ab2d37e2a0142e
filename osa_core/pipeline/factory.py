"""Pipeline profiles: which profile file a configuration runs, read and checked.

``pipeline.profile = "lstchain"`` runs ``profiles/lstchain.toml``: the one beside the
configuration file (``cfg/profiles/`` for ``cfg/osa.toml``: a site's own chain) if there is one,
else the one shipped with osa-core. A site's own name (``pipeline.profile = "lst1_site"``) runs
its file beside the configuration; a name with neither file is a configuration error naming the
key and the profiles that exist. The engine and the job side read the same configuration file,
so they run the same profile file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from osa_core.model.config import Config
from osa_core.model.errors import ConfigError
from osa_core.model.toml_lines import line_of
from osa_core.pipeline.base import Profile
from osa_core.pipeline.fileprofile import FileProfile, load_spec


def profile_path(config: Config) -> Path:
    """The profile file this configuration runs."""
    name = f"{config.pipeline.profile}.toml"
    beside_dir = config.source.parent / "profiles" if config.source is not None else None
    if beside_dir is not None and (beside_dir / name).is_file():
        return beside_dir / name
    shipped = shipped_profile(config.pipeline.profile)
    if shipped.is_file():
        return shipped
    raise _unknown_profile(config, beside_dir, shipped.parent)


def _unknown_profile(config: Config, beside: Path | None, shipped: Path) -> ConfigError:
    """``pipeline.profile`` names no file: say which key, where it looked and what exists."""
    places = [d for d in (beside, shipped) if d is not None]
    names = sorted({p.stem for d in places if d.is_dir() for p in d.glob("*.toml")})
    looked = " and ".join(str(d) for d in places)
    message = (
        f"pipeline.profile: no profile {config.pipeline.profile!r} ({config.pipeline.profile}.toml "
        f"in {looked}); profiles that exist: {', '.join(names) or 'none'}"
    )
    line = None
    if config.source is not None:
        try:
            line = line_of(config.source.read_text(encoding="utf-8"), ["pipeline", "profile"])
        except (OSError, UnicodeDecodeError):
            line = None
    return ConfigError(message, path=config.source, line=line)


def shipped_profile(name: str) -> Path:
    """A profile file shipped with osa-core (``cfg/profiles/`` of the source tree)."""
    return Path(str(resources.files("osa_core.pipeline").joinpath("profiles", f"{name}.toml")))


def is_simulation(config: Config) -> bool:
    """Whether the configured profile file says it is a simulation (its merges are the closer's own),
    whatever its name: a site's copy of the simulate profile is one too."""
    return load_spec(profile_path(config)).simulation


def get_profile(config: Config) -> Profile:
    """The configured profile; lstchain itself is never imported here (only its executables run)."""
    return get_file_profile(config)


def get_file_profile(config: Config) -> FileProfile:
    """The configured profile with its file's description (levels, resources), for ``plan``."""
    return FileProfile(config, load_spec(profile_path(config)))
