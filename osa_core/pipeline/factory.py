"""Pipeline profiles: which profile file a configuration runs, read and checked.

``pipeline.profile = "lstchain"`` runs ``profiles/lstchain.toml``: the one beside the
configuration file (``cfg/profiles/`` for ``cfg/osa.toml``: a site's own chain) if there is one,
else the one shipped with osa-core. The engine and the job side read the same configuration
file, so they run the same profile file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from osa_core.model.config import Config
from osa_core.pipeline.base import Profile
from osa_core.pipeline.fileprofile import FileProfile, load_spec


def profile_path(config: Config) -> Path:
    """The profile file this configuration runs."""
    name = f"{config.pipeline.profile}.toml"
    if config.source is not None:
        beside = config.source.parent / "profiles" / name
        if beside.is_file():
            return beside
    return shipped_profile(config.pipeline.profile)


def shipped_profile(name: str) -> Path:
    """A profile file shipped with osa-core (``cfg/profiles/`` of the source tree)."""
    return Path(str(resources.files("osa_core.pipeline").joinpath("profiles", f"{name}.toml")))


def get_profile(config: Config) -> Profile:
    """The configured profile; lstchain itself is never imported here (only its executables run)."""
    return get_file_profile(config)


def get_file_profile(config: Config) -> FileProfile:
    """The configured profile with its file's description (levels, resources), for ``plan``."""
    return FileProfile(config, load_spec(profile_path(config)))
