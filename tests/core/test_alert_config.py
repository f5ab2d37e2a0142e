"""``[alerts]`` is checked when the configuration is read: a URL apprise could not send to stops
every command with the file, the line, the key (``alerts.urls[2]``) and what was expected, and
the scheme list the check uses (kept so that apprise is not imported to read a config) is the
installed apprise's."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from osa_core.alert.notifier import check_urls
from osa_core.cli.main import main
from osa_core.model.alert_urls import APPRISE_SCHEMES
from osa_core.model.conditions import ConditionKind
from osa_core.model.config import ConfigError, config_from_dict, load_config

GOOD = [
    "mailto://127.0.0.1:2525?from=osa@example.org&to=shifter@example.org",
    "mailtos://osa:secret@smtp.example.org?to=lst-onsite@example.org",
    "json://127.0.0.1:8080/hook",
    "jsons://hooks.example.org/osa",
    "mmost://chat.example.org/abcdefghijklmnopqrstuvwxyz",
    "slack://TokenA/TokenB/TokenC/#lst-onsite",
    "MAILTO://osa@example.org",
]


def write(tmp_path: Path, urls: list[str]) -> Path:
    lines = "".join(f'  "{u}",\n' for u in urls)
    path = tmp_path / "osa.toml"
    path.write_text(
        f'[night]\nprod_id = "v1"\n\n[alerts]\nsubject_prefix = "[LST-1 test]"\nurls = [\n{lines}]\n'
    )
    return path


def test_apprise_urls_are_accepted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.alerts.urls == GOOD
    assert config.alerts.subject_prefix == "[LST-1 test]"


@pytest.mark.parametrize(
    "bad",
    [
        "smtp://mail.example.org",  # not apprise's scheme for mail (mailto)
        "nope://host",
        "mailto:/shifter@example.org",
        "json://",
        "json:///path-without-host",
        "mailto://shifter@example.org extra",
        "127.0.0.1:8080/hook",
        "",
    ],
)
def test_a_bad_url_is_refused_naming_file_line_key_and_what_was_expected(tmp_path: Path, bad: str) -> None:
    path = write(tmp_path, [GOOD[0], GOOD[2], bad])
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    assert info.value.line is not None and 5 <= info.value.line <= 9
    assert "alerts.urls[2]: expected an apprise URL" in message
    assert "mailto" in message and repr(bad) in message


def test_the_command_line_says_it_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, ["nope://host"])
    assert main(["--config", str(path), "alerts", "--date", "2020-01-27"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "alerts.urls[0]" in err and "Traceback" not in err


def test_the_scheme_list_is_the_installed_apprises() -> None:
    from apprise.manager_plugins import NotificationManager

    installed = set(NotificationManager().schemas())  # type: ignore[no-untyped-call]
    assert set(APPRISE_SCHEMES) == installed, (
        "regenerate osa_core/model/alert_urls.py: "
        f"new {sorted(installed - set(APPRISE_SCHEMES))}, gone {sorted(set(APPRISE_SCHEMES) - installed)}"
    )


ALERTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"


def test_alerts_md_tells_every_alert_kind() -> None:
    text = ALERTS_DOC.read_text()
    missing = [kind.value for kind in ConditionKind if f"| `{kind.value}` |" not in text]
    assert missing == [], "alert kinds without a row in docs/alerts.md"


def test_alerts_md_examples_are_urls_the_config_accepts(tmp_path: Path) -> None:
    text = ALERTS_DOC.read_text()
    (block,) = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    config = config_from_dict(tomllib.loads(block), tmp_path, source="docs/alerts.md")
    assert len(config.alerts.urls) == 4
    named = set(re.findall(r"`([a-z0-9]+)://", text))
    assert named and named <= set(APPRISE_SCHEMES), named - set(APPRISE_SCHEMES)


def test_a_url_of_a_known_scheme_but_not_its_form_is_refused_before_sending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, [GOOD[2], "mailto://example.org", "tgram://not-a-bot-token"])
    config = load_config(path)  # the shape is right: reading the configuration accepts it
    with pytest.raises(ConfigError) as info:
        check_urls(config.alerts, config.source)
    message = str(info.value)
    assert message.startswith(f"{path}: alerts.urls[1]: expected a mailto:// URL in the form"), message
    check_urls(load_config(write(tmp_path, GOOD)).alerts, path)

    # `alerts test` says so per URL, without sending anything to the refused ones
    path = write(tmp_path, ["mailto://example.org", "tgram://not-a-bot-token"])
    assert main(["--config", str(path), "alerts", "test"]) == 14
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "alerts.urls[0] mailto://...: NOT SENT: apprise refused the mailto:// URL (see docs/alerts.md)",
        "alerts.urls[1] tgram://...: NOT SENT: apprise refused the tgram:// URL (see docs/alerts.md)",
    ]
