"""IRCjr's screen (Textual): the program's window on an `IrcClient` and the stack under it.

IRCjr's layout (the dialog, a status line, the input line), its configuration keys (IRCJR_NICK,
IRCJR_USER, IRCJR_NAME and the optional ones, see docs/ircjr.md), its keys (Alt-0..9, Alt-C, Alt-L, Alt-T,
Alt-B, Alt-S, Alt-H, Alt-X, Alt-R, PgUp/PgDn) and commands; and the comforts it lacked: Tab completion,
input history, Ctrl-N/Ctrl-P, Alt-A, the mouse wheel, reconnecting (Alt-O, or -reconnect).

The stack runs on Textual's own event loop (`ircjr_net.StackPump`), so it is touched from one thread only,
and sleeps when nothing happens. The app's return code is 0 after /quit or Alt-X, 1 after a failed
registration.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import ClassVar

from rich.text import Text
from textual import events
from textual._ansi_sequences import ANSI_SEQUENCES_KEYS
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, RichLog, Static

from mtcp_py.irc import IrcClient, IrcSettings, LineKind, Session
from mtcp_py.irc.session import SCREEN_ROWS, file_logs
from mtcp_py.stack import Stack

from .ircjr_net import IrcConnection, StackPump
from .ircjr_view import LineView, status_line

if isinstance(ANSI_SEQUENCES_KEYS, dict):
    # Textual reads ESC+digit as the characters macOS's Option+digit types (º ¡ ™ £ ...), for WezTerm; xterm,
    # tmux and the Linux console send ESC+digit for Alt+digit, IRCjr's session keys. Without those entries
    # the sequence is read as alt+digit (and a typed £ stays a £).
    for _digit in "0123456789":
        ANSI_SEQUENCES_KEYS.pop(f"\x1b{_digit}", None)
REDRAW_SECONDS = 0.05
RECONNECT_FIRST = 5.0
RECONNECT_MOST = 300.0
FORMAT_KEYS = {"ctrl+b": "\x02", "ctrl+k": "\x03", "ctrl+u": "\x1f", "ctrl+r": "\x16", "ctrl+o": "\x0f",
               "ctrl+right_square_bracket": "\x1d"}
"""The keys that type mIRC codes (as IRCjr: Ctrl-B bold, Ctrl-K colour, Ctrl-U underline, Ctrl-R reverse,
Ctrl-O reset). Ctrl-I is Tab on a terminal, so italics are typed with Ctrl-], which sends 0x1D, the
italics code itself."""
SHOWN_CODE = {code: chr(0x2400 + ord(code)) for code in FORMAT_KEYS.values()}
"""A typed code shows in the input line as its control picture (IRCjr shows a block), turned back on Enter."""
TYPED_CODE = {glyph: code for code, glyph in SHOWN_CODE.items()}


class IrcInput(Input):
    """The input line: Enter sends; Tab completes; Up/Down recall; the formatting keys insert codes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "complete", show=False),
        Binding("up", "history(-1)", show=False),
        Binding("down", "history(1)", show=False),
        *(Binding(key, f"insert_code('{key}')", show=False) for key in FORMAT_KEYS),
    ]

    def __init__(self, client: IrcClient) -> None:
        super().__init__(placeholder="", id="input")
        self.cursor_blink = False  # a blinking cursor redraws the line twice a second: idle CPU for nothing
        self.client = client
        self.history: list[str] = []
        self._history_at = 0
        self._completion: tuple[int, str, list[str], int] | None = None
        """(where the word starts, the line with it removed, candidates, which one) while Tab repeats."""

    def action_insert_code(self, key: str) -> None:
        self.insert_text_at_cursor(SHOWN_CODE[FORMAT_KEYS[key]])

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._history_at = max(0, min(len(self.history), self._history_at + step))
        self.value = self.history[self._history_at] if self._history_at < len(self.history) else ""
        self.cursor_position = len(self.value)

    def remember(self, line: str) -> None:
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
            del self.history[:-200]
        self._history_at = len(self.history)
        self._completion = None

    def action_complete(self) -> None:
        value, cursor = self.value, self.cursor_position
        if self._completion is not None:
            start, rest, candidates, index = self._completion
            index = (index + 1) % len(candidates)
        else:
            start = value.rfind(" ", 0, cursor) + 1
            word = value[start:cursor]
            candidates = self.client.completions(word, first_word=start == 0)
            if not word or not candidates:
                return
            rest, index = value[:start] + value[cursor:], 0
        self._completion = (start, rest, candidates, index)
        choice = candidates[index]
        suffix = ": " if start == 0 and not choice.startswith(("/", "#", "&")) else " "
        self.value = rest[:start] + choice + suffix + rest[start:]
        self.cursor_position = start + len(choice) + len(suffix)

    def on_key(self, event: events.Key) -> None:
        if event.key != "tab":  # any other key ends a Tab cycle
            self._completion = None


class IrcjrApp(App[int]):
    """The full-screen client. `stack` is started and ended by the caller."""

    ENABLE_COMMAND_PALETTE = False  # Ctrl-P is the previous session here

    CSS = """
    #dialog { height: 1fr; border: none; padding: 0; scrollbar-size-vertical: 1; }
    #status { height: 1; background: $panel; }
    #input { height: 1; border: none; padding: 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(f"alt+{digit}", f"session({digit})", show=False, priority=True) for digit in range(10)),
        Binding("alt+c", "close_session", show=False, priority=True),
        Binding("alt+l", "toggle_logging", show=False, priority=True),
        Binding("alt+t", "toggle_timestamps", show=False, priority=True),
        Binding("alt+b", "toggle_beeper", show=False, priority=True),
        Binding("alt+s", "statistics", show=False, priority=True),
        Binding("alt+h", "help", show=False, priority=True),
        Binding("alt+x", "leave", show=False, priority=True),
        Binding("ctrl+c", "leave", show=False, priority=True),
        Binding("ctrl+q", "leave", show=False, priority=True),
        Binding("alt+r", "toggle_raw", show=False, priority=True),
        Binding("alt+a", "next_active", show=False, priority=True),
        Binding("alt+o", "reconnect", show=False, priority=True),
        Binding("ctrl+n", "cycle(1)", show=False, priority=True),
        Binding("ctrl+p", "cycle(-1)", show=False, priority=True),
        Binding("pageup", "scroll(-1)", show=False, priority=True),
        Binding("pagedown", "scroll(1)", show=False, priority=True),
    ]

    def __init__(self, stack: Stack, settings: IrcSettings, host: str, port: int = 6667, channel: str = "",
                 *, reconnect: bool = False, reconnect_wait: float = RECONNECT_FIRST, server_name: str = "") -> None:
        """`host` is the server's address; `server_name` what it was called (shown and logged), if a name."""
        super().__init__()
        self.stack = stack
        self.host = server_name or host
        self.client = IrcClient(settings, self.host, initial_channel=channel, logs=file_logs(settings.log_dir),
                                clock=time.time)
        self.connection = IrcConnection(stack, self.client, host, port)
        self.pump = StackPump([stack], self._step, self._internal_error)
        self.view = LineView(settings.timestamps, settings.mono_colors)
        self.auto_reconnect = reconnect
        self.beeper = False
        self.started = time.time()
        self.exit_status = 0
        self._shown: Session | None = None
        self._shown_added = 0
        self._shown_stamps = settings.timestamps
        self._bells = 0
        self._reconnect_first = reconnect_wait
        self._reconnect_wait = reconnect_wait
        self._reconnect_at: float | None = None
        self._internal_errors = 0
        self._leaving = False
        self.ever_registered = False
        self._status_drawn: tuple[str, tuple[object, ...]] = ("", ())
        self._last_drawn = 0.0
        self._redraw_pending = False
        self.last_problem = ""
        """Why the connection last ended or failed, for the line printed after the screen closes."""

    def compose(self) -> ComposeResult:
        yield RichLog(id="dialog", wrap=True, markup=False, highlight=False, min_width=20)
        yield Static(id="status")
        yield IrcInput(self.client)

    @property
    def dialog(self) -> RichLog:
        return self.query_one("#dialog", RichLog)

    @property
    def input_line(self) -> IrcInput:
        return self.query_one(IrcInput)

    def on_mount(self) -> None:
        client = self.client
        now = time.time()
        for text in ("mTCP IRCjr by M Brutman, on mtcp-py (a TCP/IP stack in Python)",
                     f"{self.stack.describe()}",
                     f"Connect timeout: {client.settings.connect_timeout:.0f}  "
                     f"Registration timeout: {client.settings.register_timeout:.0f}",
                     "Alt-H for help, Alt-X to exit"):
            client.note(client.server_session, LineKind.LOCAL, text, now)
        self.input_line.focus()
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self._terminated)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests): no signals
            pass
        self.pump.start()
        self.connection.open()
        self.set_interval(1.0, self.pump.wake)
        self.refresh_screen()

    def on_unmount(self) -> None:
        self.pump.stop()
        self.connection.close()
        self.client.close_logs(time.time())

    # ---- the loop's step --------------------------------------------------------------------------------

    def _step(self) -> bool:
        moved = self.connection.step()
        now = time.time()
        if self.connection.finished or (self._leaving and not self.connection.is_up and self.connection.sock is None):
            self.pump.stop()
            self.exit(self.exit_status)
            return False
        if self.connection.lost is not None and self._reconnect_at is None:
            self._connection_lost(now)
        if self._reconnect_at is not None and now >= self._reconnect_at:
            self._reconnect_at = None
            self.connection.open()
            moved = True
        if self.connection.is_up and self.client.registered:
            self._reconnect_wait = self._reconnect_first
            self.ever_registered = True
            if not self._leaving:  # leaving keeps its status (130 after SIGTERM)
                self.exit_status = 0
        self._refresh_soon()
        return moved

    def _refresh_soon(self) -> None:
        """Draw now, or, when the last drawing was less than REDRAW_SECONDS ago, once that much has passed:
        a flood of lines is drawn a screenful at a time instead of line by line."""
        wait = self._last_drawn + REDRAW_SECONDS - time.monotonic()
        if wait <= 0:
            self.refresh_screen()
        elif not self._redraw_pending:
            self._redraw_pending = True
            self.set_timer(wait, self._delayed_refresh)

    def _delayed_refresh(self) -> None:
        self._redraw_pending = False
        self.refresh_screen()

    def _connection_lost(self, now: float) -> None:
        client = self.client
        if self.auto_reconnect:
            self._reconnect_at = now + self._reconnect_wait
            client.note(client.server_session, LineKind.LOCAL,
                        f"Connecting again in {self._reconnect_wait:.1f} s (Alt-O now, Alt-X to exit)", now)
            self._reconnect_wait = min(self._reconnect_wait * 2, RECONNECT_MOST)
        else:
            self._reconnect_at = float("inf")
            client.note(client.server_session, LineKind.LOCAL, "Press Alt-O to connect again, Alt-X to exit", now)
        self.last_problem = client.failure or self.connection.lost or ""
        if client.failure is not None or not self.ever_registered:
            self.exit_status = 1

    def _terminated(self) -> None:
        self.exit_status = 130
        self.action_leave()

    def _internal_error(self, error: BaseException) -> None:
        self._internal_errors += 1
        if self._internal_errors <= 3:  # say it, but do not flood the screen with one fault
            self.client.note(self.client.server_session, LineKind.ERROR,
                             f"internal error: {type(error).__name__}: {error}", time.time())

    # ---- drawing ----------------------------------------------------------------------------------------

    def refresh_screen(self) -> None:
        self._last_drawn = time.monotonic()
        client = self.client
        session = client.current
        log = self.dialog
        if session is not self._shown or self.view.timestamps != self._shown_stamps \
                or session.added - self._shown_added > len(session.lines):
            log.clear()
            log.max_lines = session.backscroll + SCREEN_ROWS
            for line in session.lines:
                log.write(self.view.render(line), scroll_end=True)
            self._shown, self._shown_stamps = session, self.view.timestamps
        else:
            new = session.added - self._shown_added
            at_end = log.is_vertical_scroll_end or log.max_scroll_y == 0
            if new > 0:
                for line in list(session.lines)[-new:]:
                    log.write(self.view.render(line), scroll_end=at_end)
        self._shown_added = session.added
        if self.beeper and client.bells > self._bells:
            self.bell()
        self._bells = client.bells
        backscroll = not (log.is_vertical_scroll_end or log.max_scroll_y == 0)
        status = status_line(client, host=self.host, logging=session.log is not None, beeper=self.beeper,
                             backscroll=backscroll, width=self.size.width or 80)
        drawn = (status.plain, tuple(status.spans))
        if drawn != self._status_drawn:  # an unchanged status line is not redrawn: an idle screen costs nothing
            self._status_drawn = drawn
            self.query_one("#status", Static).update(status)

    def screen_text(self) -> list[str]:
        """The dialog's lines as drawn (for tests and tmux checks)."""
        return [strip.text.rstrip() for strip in self.dialog.lines]

    def status_text(self) -> str:
        rendered = self.query_one("#status", Static).render()
        return rendered.plain if isinstance(rendered, Text) else str(rendered)

    # ---- what the user does -----------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        typed = event.value
        self.input_line.remember(typed)
        self.input_line.value = ""
        text = "".join(TYPED_CODE.get(c, c) for c in typed)
        self.client.type_line(text, time.time())
        if self.client.quit_sent:
            self.action_leave()
        self.pump.wake()
        self.refresh_screen()

    def action_session(self, index: int) -> None:
        if not self.client.switch_to(index):
            self.bell()
        self.refresh_screen()

    def action_cycle(self, step: int) -> None:
        sessions = self.client.sessions
        index = (sessions.index(self.client.current) + step) % len(sessions)
        self.action_session(index)

    def action_next_active(self) -> None:
        active = self.client.active_sessions()
        if active:
            self.action_session(active[0])

    def action_close_session(self) -> None:
        self.client.close_session(self.client.current, time.time())
        self.pump.wake()
        self.refresh_screen()

    def action_toggle_logging(self) -> None:
        self.client.toggle_logging(self.client.current, time.time())
        self.refresh_screen()

    def action_toggle_timestamps(self) -> None:
        client = self.client
        client.timestamps = self.view.timestamps = not self.view.timestamps
        client.note(client.current, LineKind.LOCAL,
                    f"Timestamps turned {'on' if client.timestamps else 'off'}", time.time())
        self.refresh_screen()

    def action_toggle_beeper(self) -> None:
        self.beeper = not self.beeper
        self.refresh_screen()

    def action_toggle_raw(self) -> None:
        client = self.client
        client.raw_view = not client.raw_view
        client.note(client.server_session, LineKind.LOCAL,
                    f"Showing raw messages from server: {'yes' if client.raw_view else 'no'}", time.time())
        self.refresh_screen()

    def action_help(self) -> None:
        self.client.type_line("/help", time.time())
        self.refresh_screen()

    def action_statistics(self) -> None:
        client, now = self.client, time.time()
        active = int(now - self.started)
        client.note(client.current, LineKind.LOCAL, f"IRCjr Statistics: Active {active // 60:02d}:{active % 60:02d}, "
                                                    f"Server pings: {client.server_pings}", now)
        for layer, values in self.stack.counters().items():
            shown = ", ".join(f"{key} {value}" for key, value in values.items() if value)
            if shown:
                client.note(client.current, LineKind.LOCAL, f"{layer}: {shown}", now)
        self.refresh_screen()

    def action_scroll(self, direction: int) -> None:
        if direction < 0:
            self.dialog.scroll_page_up(animate=False)
        else:
            self.dialog.scroll_page_down(animate=False)
        self.call_after_refresh(self.refresh_screen)

    def action_reconnect(self) -> None:
        if self.connection.sock is None and not self._leaving:
            self._reconnect_at = None
            self.connection.open()
            self.pump.wake()

    def action_leave(self) -> None:
        """Alt-X: QUIT goes out and we wait (a little) for the server to close; with no connection, at once."""
        self._leaving = True
        if not self.client.quit_sent:
            self.client.quit()
        if self.connection.sock is None:
            self.pump.stop()
            self.exit(self.exit_status)
            return
        self.pump.wake()

