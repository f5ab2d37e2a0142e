"""Any value TOML can hold, at any key of the schema: the config loads or is refused with one line
naming the key, never anything else (hypothesis drives the values, the real loader reads them)."""

from __future__ import annotations

import datetime as dt
import math
import typing
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osa_core.model.config import ConfigError, ConfigFile, config_from_dict


def keys_of(tp: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of the schema, tables and arrays of tables included."""
    out: list[tuple[str, ...]] = []
    for name, hint in typing.get_type_hints(tp).items():
        if name not in tp.__struct_fields__:
            continue
        path = (*prefix, name)
        out.append(path)
        if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
            out += keys_of(hint, path)
    return out


KEYS = keys_of(ConfigFile)
scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(alphabet="ab{}0.!:/-_ \n\x00~", max_size=12),
    st.sampled_from(["r0_to_dl1", "4G", "02:00:00", "local", "../x", "{night}", ""]),
    st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 1, 1)),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["run", "step", "x"]), inner),
    max_leaves=6,
)


def nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {path[-1]: value}
    for name in reversed(path[:-1]):
        out = {name: out}
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(KEYS), value=values)
def test_any_value_at_any_key_loads_or_names_the_key(
    tmp_path: Path, path: tuple[str, ...], value: Any
) -> None:
    try:
        config = config_from_dict(nest(path, value), tmp_path, source="fuzz.toml")
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("fuzz.toml: ") and "\n" not in message, message
        assert message.split(": ")[1].split("[")[0].split(".")[0] == path[0], message
        return
    for factor in (config.scheduler.oom_memory_factor, config.webserver.timeout):
        assert math.isfinite(factor)
    assert "/" not in config.night.prod_id and config.night.prod_id not in ("", ".", "..")
