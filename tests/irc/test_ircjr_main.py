"""mtcp-ircjr's command line and configuration: one line and status 2 for each mistake, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtcp_py.apps.ircjr import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    code = caught.value.code
    return int(code) if isinstance(code, int) else 1, capsys.readouterr().err


def test_a_server_written_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["10.0.0.300"], capsys)
    assert (code, err) == (2, "mtcp-ircjr: 10.0.0.300: not a dotted IPv4 address (a host name has a letter in it)\n")
    long_label = "a" * 64 + ".example"
    code, err = run([long_label], capsys)
    assert code == 2 and err.startswith(f"mtcp-ircjr: {long_label}: not a host name")


def test_bad_port_and_missing_server(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["-port", "70000", "10.0.0.1"], capsys)
    assert code == 2 and err == "mtcp-ircjr: -port 70000: a port is a number, from 1 to 65535\n"
    code, err = run([], capsys)
    assert code == 2 and "SERVER" in err


def test_bad_value_names_file_line_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "mtcp.cfg"
    config.write_text("LINK hub:ircmain\nIPADDR 10.0.0.2\nIRCJR_NICK jr\nIRCJR_QUIT_UPDATES loud\n")
    code, err = run(["--config", str(config), "10.0.0.1"], capsys)
    assert (code, err) == (2, f"mtcp-ircjr: {config}:4: IRCJR_QUIT_UPDATES: loud: one of none, server, current, "
                              "all\n")


def test_missing_keys_without_a_terminal_say_which(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    config = tmp_path / "mtcp.cfg"
    config.write_text("LINK hub:ircmain\nIPADDR 10.0.0.2\nIRCJR_NICK jr\n")
    code, err = run(["--config", str(config), "10.0.0.1"], capsys)
    assert (code, err) == (2, f"mtcp-ircjr: set IRCJR_USER, IRCJR_NAME in {config}\n")


def test_missing_keys_are_asked_for_on_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    answers = iter(["bad nick!"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    config = tmp_path / "mtcp.cfg"
    config.write_text("LINK hub:ircmain\nIPADDR 10.0.0.2\n")
    code, err = run(["--config", str(config), "10.0.0.1"], capsys)
    assert code == 2 and err.startswith("mtcp-ircjr: 'bad nick!': a nick is one word")
