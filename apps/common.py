"""What every program shares: mTCP-style options, the config file, the link, signals, errors.

Status goes to stderr; stdout carries only what the program produces. Ctrl-C and SIGTERM both end the
program through the same path, so the stack is always ended and the link released.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

from rich.console import Console
from rich.table import Table

from mtcp_py.config import ConfigError, MtcpConfig, load_config
from mtcp_py.launch import open_stack
from mtcp_py.stack import Stack, StackError
from pktdrv import LinkError

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
def app_stack(prog: str, config: MtcpConfig, link: str | None) -> Iterator[Stack]:
    """The started stack for a program; errors become one line on stderr and a non-zero exit."""
    try:
        stack = open_stack(config, link)
    except ConfigError as exc:
        fail(prog, str(exc), EXIT_USAGE)
    except LinkError as exc:
        fail(prog, str(exc), EXIT_USAGE)
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

