"""mIRC formatting codes into styles, controls made harmless; IRCjr's configuration keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtcp_py.config import ConfigError, load_config
from mtcp_py.irc.formatting import PLAIN, TextStyle, sanitize, strip_codes, styled_runs
from mtcp_py.irc.settings import UpdatesTo, load_settings


def test_bold_color_reverse_reset() -> None:
    runs = styled_runs("a\x02b\x02\x034,8c\x03d\x16e\x0ff\x1fg\x1dh")
    assert runs == [("a", PLAIN), ("b", TextStyle(bold=True)), ("c", TextStyle(fg=4, bg=8)), ("d", PLAIN),
                    ("e", TextStyle(reverse=True)), ("f", PLAIN), ("g", TextStyle(underline=True)),
                    ("h", TextStyle(underline=True, italic=True))]


def test_colour_keeps_background_and_comma_without_digit_is_text() -> None:
    assert styled_runs("\x031,2a\x033b") == [("a", TextStyle(fg=1, bg=2)), ("b", TextStyle(fg=3, bg=2))]
    assert styled_runs("\x034,x") == [(",x", TextStyle(fg=4))]
    assert styled_runs("\x04ff0000red") == [("red", PLAIN)]


def test_controls_are_shown_never_passed_through() -> None:
    hostile = "\x1b]0;owned\x07\x1b[2J\r\n\x08\x7f\x9b"
    shown = "".join(text for text, _ in styled_runs(hostile))
    assert all(ord(c) >= 0x20 and not 0x7F <= ord(c) <= 0x9F for c in shown)
    assert shown.startswith("\u241b]0;owned\u2407")
    assert sanitize("nick\x1b[31m") == "nick\u241b[31m" and sanitize("plain") == "plain"
    assert strip_codes("\x02bold\x02 \x0312blue") == "bold blue"


@given(st.text())
def test_no_control_character_survives(text: str) -> None:
    for run, _ in styled_runs(text):
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in run)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in sanitize(text))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mtcp.cfg"
    path.write_text(text)
    return path


def test_ircjr_keys_as_the_example_in_ircjr_txt(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    path = write(tmp_path, f"""# IRCjr parms
ircjr_nick Zoidberg
ircjr_user JZoidberg
ircjr_name John F Zoidberg
ircjr_pass secretgoeshere
ircjr_connect_timeout 45
ircjr_register_timeout 60
ircjr_backscroll 375
ircjr_backscroll_chat 150
ircjr_backscroll_server 100
ircjr_color_scheme cga_mono
ircjr_timestamps on
ircjr_logging_default on
ircjr_log_dir {logs}
ircjr_nick_updates server
ircjr_quit_updates all
""")
    settings = load_settings(load_config(path))
    assert (settings.nick, settings.user, settings.real_name, settings.password) == (
        "Zoidberg", "JZoidberg", "John F Zoidberg", "secretgoeshere")
    assert (settings.connect_timeout, settings.register_timeout) == (45.0, 60.0)
    assert (settings.backscroll_channel, settings.backscroll_chat, settings.backscroll_server) == (375, 150, 100)
    assert settings.mono_colors and settings.timestamps and settings.logging_default
    assert settings.log_dir == str(logs)
    assert settings.nick_updates is UpdatesTo.SERVER and settings.quit_updates is UpdatesTo.ALL
    assert settings.missing == []


def test_defaults_and_missing_keys(tmp_path: Path) -> None:
    settings = load_settings(load_config(write(tmp_path, "ircjr_nick jr\n")))
    assert settings.missing == ["IRCJR_USER", "IRCJR_NAME"]
    assert (settings.connect_timeout, settings.register_timeout) == (30.0, 30.0)
    assert (settings.backscroll_channel, settings.backscroll_chat, settings.backscroll_server) == (150, 75, 50)
    assert settings.nick_updates is UpdatesTo.NONE and settings.quit_updates is UpdatesTo.NONE


@pytest.mark.parametrize(("line", "reason"), [
    ("IRCJR_BACKSCROLL lots", "lots: a whole number from 0 to 100000"),
    ("IRCJR_TIMESTAMPS maybe", "maybe: on or off"),
    ("IRCJR_NICK_UPDATES everywhere", "everywhere: one of none, server, current, all"),
    ("IRCJR_LOG_DIR /no/such/dir", "/no/such/dir: not a directory"),
    ("IRCJR_NICK #bad", "'#bad': a nick is one word"),
    ("IRCJR_CONNECT_TIMEOUT -5", "-5: a whole number from 0 to 3600"),
    ("IRCJR_COLOR_SCHEME rainbow", "rainbow: the only scheme is CGA_MONO"),
])
def test_a_bad_value_names_file_line_and_key(tmp_path: Path, line: str, reason: str) -> None:
    path = write(tmp_path, f"IRCJR_NICK jr\n# comment\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(load_config(path))
    key = line.split()[0]
    assert str(caught.value).startswith(f"{path}:3: {key}: {reason}")
