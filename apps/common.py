"""What every program shares: mTCP-style options, the config file, the link, signals, errors.

Status goes to stderr; stdout carries only what the program produces. Ctrl-C and SIGTERM both end the
program through the same path, so the stack is always ended and the link released.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn

from rich.console import Console
from rich.table import Table

from mtcp_py.blocking import resolve
from mtcp_py.config import ConfigError, MtcpConfig, load_config
from mtcp_py.dns import ResolveError
from mtcp_py.launch import open_stack
from mtcp_py.stack import Stack, StackError
from mtcp_py.wire import ip_from_str
from mtcp_py.wire.dns import BadName, encode_name
from pktdrv import Clock, LinkError
from pktdrv.links import LinkSpecError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered the way Ctrl-C is so both leave through the same clean-up."""


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="mTCP configuration file (default: $MTCPCFG)")
    parser.add_argument("--link", metavar="LINK", help="link string, overriding LINK (e.g. tap:mtap0)")


def make_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description, add_help=False,
                                     allow_abbrev=False)
    parser.add_argument("-help", "-h", "--help", action="help", help="show this help and exit")
    add_common_options(parser)
    return parser


def fail(prog: str, message: str, code: int = EXIT_FAILED) -> NoReturn:
    print(f"{prog}: {message}", file=sys.stderr)
    raise SystemExit(code)


def whole_number(prog: str, option: str, text: str, least: int, most: int | None = None, what: str = "") -> int:
    """The whole number an option was given (ASCII digits only); anything else is a one-line usage error."""
    value = int(text) if text.isascii() and text.isdecimal() else None
    if value is None or value < least or (most is not None and value > most):
        span = f"from {least} to {most}" if most is not None else f"at least {least}"
        fail(prog, f"{option} {text}: {what or 'a whole number'}, {span}", EXIT_USAGE)
    return value


def port_number(prog: str, option: str, text: str) -> int:
    return whole_number(prog, option, text, 1, 65_535, "a port is a number")


def seconds(prog: str, option: str, text: str, zero: bool = True) -> float:
    """A time in seconds (a finite decimal number, not negative; above zero unless `zero`)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        least = "0 or more" if zero else "more than 0"
        fail(prog, f"{option} {text}: seconds, a number {least}", EXIT_USAGE)
    return value


def host_argument(prog: str, text: str) -> str:
    """A HOST argument checked before the stack starts: a dotted address, or a name that could be asked for.
    Digits and dots alone are an address written wrong (no host name is all digits, RFC 1123 2.1)."""
    if all(ch.isdigit() or ch == "." for ch in text):
        try:
            ip_from_str(text)
        except ValueError:
            fail(prog, f"{text}: not a dotted IPv4 address (a host name has a letter in it)", EXIT_USAGE)
        return text
    try:
        encode_name(text)
    except BadName as exc:
        fail(prog, f"{text}: not a host name: {exc}", EXIT_USAGE)
    return text


def resolve_host(prog: str, stack: Stack, host: str, timeout: float | None = None) -> int:
    """HOST's address, by DNS when it is a name; one line (`PROG: HOST: no such host (NXDOMAIN)`) and exit 1
    when it cannot be resolved."""
    try:
        return resolve(stack, host, timeout)
    except ResolveError as exc:
        fail(prog, f"{host}: {exc}", EXIT_FAILED)
    except StackError as exc:  # a stack without UDP has no resolver
        fail(prog, f"{host}: {exc}", EXIT_FAILED)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM while resolving
        fail(prog, "interrupted", EXIT_INTERRUPTED)


def load(prog: str, path: str | None) -> MtcpConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        fail(prog, str(exc), EXIT_USAGE)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises Terminated (a KeyboardInterrupt) in the main thread."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    try:
        previous: Callable[[int, FrameType | None], object] | int | None = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def app_stack(prog: str, config: MtcpConfig, link: str | None, clock: Clock | None = None,
              **overrides: Any) -> Iterator[Stack]:
    """The started stack for a program; errors become one line on stderr and a non-zero exit. `overrides`
    are StackConfig fields (mtcp-dhcp: no address, no TCP)."""
    try:
        stack = open_stack(config, link, clock, **overrides)
    except ConfigError as exc:
        fail(prog, str(exc), EXIT_USAGE)
    except LinkSpecError as exc:  # --link written wrong: a usage error
        fail(prog, str(exc), EXIT_USAGE)
    except LinkError as exc:  # the link cannot open (not permitted, no such device, busy)
        fail(prog, str(exc), EXIT_FAILED)
    except OSError as exc:
        fail(prog, f"{link or config.link}: {exc.strerror or exc}", EXIT_FAILED)
    except StackError as exc:
        fail(prog, str(exc), EXIT_FAILED)
    try:
        yield stack
    finally:
        stack.end_stack()


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def stats_table(stack: Stack, title: str = "Stack counters") -> Table:
    """Every non-zero counter of every layer, and the drops by cause (the -stats view)."""
    table = Table(title=title)
    table.add_column("layer")
    table.add_column("counter")
    table.add_column("value", justify="right")
    for layer, values in stack.counters().items():
        shown = [(k, v) for k, v in values.items() if v]
        for index, (key, value) in enumerate(shown):
            table.add_row(layer if index == 0 else "", key, str(value))
    return table

