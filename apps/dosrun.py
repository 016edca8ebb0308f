"""mtcp-dosrun: real DOS packet-driver programs on the emulated packet driver (see docs/dosrun.md).

The machine and its command line live in `pktdrv.dos`; this is the console script's entry point.
"""

from __future__ import annotations

import sys

from pktdrv.dos.cli import main as dosrun_main


def main(argv: list[str] | None = None) -> int:
    return dosrun_main(argv)


if __name__ == "__main__":
    sys.exit(main())
