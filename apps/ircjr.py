"""mtcp-ircjr: mTCP's IRCjr, full screen (Textual), on the stack.

    mtcp-ircjr [-port N] [-reconnect] SERVER [CHANNEL]

As IRCjr: SERVER is required (a name, resolved by DNS before the screen opens, or an address), CHANNEL is
joined once registered, -port gives a port other than 6667. IRCJR_NICK, IRCJR_USER and IRCJR_NAME come from the mTCP
configuration file; when one is missing it is asked for before the screen opens (or, without a terminal,
the program says which key to set). -reconnect connects again by itself after the connection drops, waiting
5 s, then twice as long each time up to 5 minutes. --config FILE and --link LINK as every program.

Exit status: 0 after /quit or Alt-X, 1 when the name could not be resolved, the connection could not be
made or registration failed, 2 for a bad command line or configuration, 130 after SIGTERM.
"""

from __future__ import annotations

import argparse
import sys

from mtcp_py.config import ConfigError, MtcpConfig
from mtcp_py.irc.settings import DEFAULT_PORT, IrcSettings, check_nick, load_settings
from mtcp_py.wire import ip_from_str, ip_to_str

from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    app_stack,
    fail,
    host_argument,
    load,
    make_parser,
    port_number,
    resolve_host,
)
from .ircjr_app import IrcjrApp

PROG = "mtcp-ircjr"
ASKED = {"IRCJR_NICK": "Your nickname", "IRCJR_USER": "Your user name (can be made up)",
         "IRCJR_NAME": "Your real name"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = make_parser(PROG, "mTCP IRCjr: an IRC client, full screen, on the mtcp-py stack.")
    parser.add_argument("-port", "--port", metavar="N", default=str(DEFAULT_PORT), help="server port (6667)")
    parser.add_argument("-reconnect", "--reconnect", action="store_true",
                        help="connect again by itself when the connection drops")
    parser.add_argument("server", metavar="SERVER", help="the IRC server's name or address")
    parser.add_argument("channel", metavar="CHANNEL", nargs="?", default="", help="a channel to join")
    args = parser.parse_args(argv)
    args.port = port_number(PROG, "-port", args.port)
    args.server = host_argument(PROG, args.server)
    return args


def is_address(text: str) -> bool:
    try:
        ip_from_str(text)
    except ValueError:
        return False
    return True


def settings_for(config: MtcpConfig) -> IrcSettings:
    """IRCjr's keys; the required ones asked for on a terminal when missing."""
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        fail(PROG, str(exc), EXIT_USAGE)
    missing = settings.missing
    if not missing:
        return settings
    where = config.path or "the configuration file (MTCPCFG or --config)"
    if not sys.stdin.isatty():
        fail(PROG, f"set {', '.join(missing)} in {where}", EXIT_USAGE)
    try:
        for key in missing:
            answer = input(f"{key} is not set in {where}. {ASKED[key]}: ").strip()
            if key == "IRCJR_NICK":
                settings.nick = check_nick(answer)
            elif key == "IRCJR_USER":
                settings.user = answer.split(" ")[0] if answer else ""
            else:
                settings.real_name = answer
            if not answer:
                fail(PROG, f"{key} is needed", EXIT_USAGE)
    except ValueError as exc:
        fail(PROG, str(exc), EXIT_USAGE)
    except (EOFError, KeyboardInterrupt):
        fail(PROG, "interrupted", EXIT_INTERRUPTED)
    return settings


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = load(PROG, args.config)
    settings = settings_for(config)
    with app_stack(PROG, config, args.link) as stack:
        if not is_address(args.server):
            print(f"{PROG}: resolving IRC server name: {args.server}", file=sys.stderr)
        address = ip_to_str(resolve_host(PROG, stack, args.server, settings.connect_timeout))
        app = IrcjrApp(stack, settings, address, args.port, args.channel, reconnect=args.reconnect,
                       server_name=args.server)
        try:
            status = app.run()
        except Exception as exc:  # a fault in the screen: one line, never a traceback
            fail(PROG, f"internal error: {type(exc).__name__}: {exc}", EXIT_FAILED)
    if status is None:
        status = EXIT_FAILED
    if status and app.last_problem:
        print(f"{PROG}: {app.last_problem}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
