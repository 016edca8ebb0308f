"""How IRCjr's lines and status line look: IRCjr's colour scheme (or CGA_MONO's high contrast one), mIRC
codes as styles, and nothing from the network reaching the terminal as a control character."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text

from mtcp_py.irc import IrcClient, Line, LineKind
from mtcp_py.irc.formatting import MIRC_PALETTE, TextStyle, sanitize, styled_runs

COLOR_SCHEME = {
    LineKind.NORMAL: Style(color="grey85"),
    LineKind.SERVER: Style(color="yellow"),
    LineKind.LOCAL: Style(color="cyan"),
    LineKind.ERROR: Style(color="black", bgcolor="red"),
    LineKind.OWN: Style(color="bright_white", bold=True),
    LineKind.OTHER: Style(color="green"),
    LineKind.ACTION: Style(color="magenta"),
    LineKind.RAW: Style(color="bright_white"),
}
"""IRCjr's colours on a colour card: errors black on red, server yellow, local messages cyan, our nick
bright white, other nicks green, actions magenta."""
MONO_SCHEME = {kind: Style(bold=kind is not LineKind.NORMAL and kind is not LineKind.OTHER,
                           reverse=kind is LineKind.ERROR) for kind in LineKind}
HIGHLIGHT = Style(color="black", bgcolor="yellow", bold=True)
TIMESTAMP = Style(color="cyan")
BODY = Style(color="grey85")


def mirc_color(index: int | None) -> str | None:
    if index is None or index >= len(MIRC_PALETTE):
        return None  # the extended colours 16-98 are shown as the default: rarely used
    return MIRC_PALETTE[index]


def run_style(style: TextStyle, base: Style, mono: bool) -> Style:
    fg = None if mono else mirc_color(style.fg)
    bg = None if mono else mirc_color(style.bg)
    return base + Style(color=fg, bgcolor=bg, bold=style.bold or None, italic=style.italic or None,
                        underline=style.underline or None, reverse=style.reverse or None,
                        strike=style.strike or None)


def formatted(text: str, base: Style, mono: bool = False) -> Text:
    """Message text with its mIRC codes as styles; controls shown as symbols."""
    out = Text()
    for run, style in styled_runs(text):
        out.append(run, run_style(style, base, mono))
    return out


@dataclass
class LineView:
    timestamps: bool = False
    mono: bool = False

    def render(self, line: Line) -> Text:
        scheme = MONO_SCHEME if self.mono else COLOR_SCHEME
        out = Text(no_wrap=False, overflow="fold")
        if self.timestamps:
            out.append(time.strftime("%H:%M:%S ", time.localtime(line.when)), TIMESTAMP)
        kind = line.kind
        who = sanitize(line.who)
        if kind in (LineKind.OWN, LineKind.OTHER):
            out.append(f"<{who}> ", HIGHLIGHT if line.highlight and not self.mono else scheme[kind])
            out.append_text(formatted(line.text, BODY if not self.mono else Style(), self.mono))
        elif kind is LineKind.ACTION:
            out.append_text(formatted(f"* {who} {line.text}", scheme[kind], self.mono))
        else:
            out.append(sanitize(line.text), scheme[kind])
        return out


def status_line(client: IrcClient, *, host: str, logging: bool, beeper: bool, backscroll: bool,
                width: int = 80) -> Text:
    """IRCjr's status line: the session's name, a digit per session (bright: shown; reversed: new
    activity; highlighted: your nick was mentioned), then nick, server, lag, toggles and the time."""
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(f" {sanitize(client.current.name)[:25]} ", Style(color="black", bgcolor="red"))
    out.append(" ")
    for index, session in enumerate(client.sessions):
        if session is client.current:
            style = Style(color="bright_white", bold=True)
        elif session.mentioned:
            style = Style(color="black", bgcolor="yellow", bold=True)
        elif session.activity:
            style = Style(reverse=True)
        else:
            style = Style(color="grey50")
        out.append(str(index), style)
    lag = f"{client.lag:.1f}s" if client.lag is not None else "-"
    state = client.state.value if not client.registered else f"lag {lag}"
    out.append(f"  {sanitize(client.nick)} @ {host}  {state}", Style(color="grey85"))
    flags = [name for name, on in (("Log", logging), ("Beep", beeper), ("Backscroll", backscroll),
                                   ("Raw", client.raw_view), ("Time", client.timestamps)) if on]
    if flags:
        out.append("  " + " ".join(f"[{flag}]" for flag in flags), Style(color="bright_white"))
    clock = time.strftime("%H:%M")
    pad = width - out.cell_len - len(clock) - 1
    if pad > 0:
        out.append(" " * pad)
    out.append(clock, Style(color="cyan"))
    return out
