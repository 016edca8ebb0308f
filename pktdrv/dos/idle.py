"""When a polling program has nothing to do: the rule that decides whether an idle call may sleep.

Programs say they wait in calls: INT 28h and INT 2Fh/1680h (yield), or a poll of the keyboard (INT 16h/01h)
or the clock (INT 21h/2Ch, 21h/0Bh, INT 1Ah/00h) that finds nothing new. mTCP's NC makes three such calls
per turn of its main loop and takes one frame per turn off a ring of its own that the NIC interrupt
fills; the machine cannot see that ring, only what it handed over. So the rule counts loop turns, not
calls: a turn ends when an idle-type call comes again from the address that began it (whatever the number
of calls a program makes per turn), or after `CALLS_PER_TURN_LIMIT` calls.

- A call with activity since the previous idle-type call (a frame sent, a key or file read, output
  written, a frame handed over) never sleeps, and starts a new quiet run.
- Each frame handed to the program buys it a turn (to take the frame off its ring), up to `CREDIT_LIMIT`.
- Only `QUIET_TURNS` whole turns with nothing done, and no credit left, sleep.

A program that polls with nothing to do thus sleeps after two turns of its loop (microseconds of guest
time); one that has frames waiting, or that sent something since its last idle call, runs on.
"""

from __future__ import annotations

QUIET_TURNS = 2
"""Whole loop turns with no activity before the machine sleeps."""
TURNS_PER_FRAME = 1
"""Turns allowed per frame handed to the program (it may take one frame per turn of its loop)."""
CREDIT_LIMIT = 256
CALLS_PER_TURN_LIMIT = 64
"""A program whose idle calls never repeat an address still has its turns counted: one per this many."""


class IdleRule:
    def __init__(self) -> None:
        self.active = False
        """Something happened since the last idle-type call."""
        self.credit = 0
        self.quiet_turns = 0
        self.turn_start: int | None = None
        """The call site (CS << 16 | IP) that began the current turn."""
        self.calls = 0

    def note_activity(self) -> None:
        self.active = True

    def note_frame(self) -> None:
        self.active = True
        self.credit = min(self.credit + TURNS_PER_FRAME, CREDIT_LIMIT)

    def may_sleep(self, site: int) -> bool:
        """An idle-type call from `site`: True when the machine may sleep now."""
        if self.active:
            self.active = False
            self.quiet_turns = 0
            self.turn_start = site
            self.calls = 0
            return False
        if self.turn_start is None:
            self.turn_start = site
            return False
        self.calls += 1
        if site != self.turn_start and self.calls < CALLS_PER_TURN_LIMIT:
            return False
        self.calls = 0  # a turn of the program's loop is complete
        if self.credit:
            self.credit -= 1
            return False
        self.quiet_turns += 1
        if self.quiet_turns < QUIET_TURNS:
            return False
        self.slept()
        return True

    def slept(self) -> None:
        """The machine slept: frames handed over before are long taken (or never will be)."""
        self.credit = 0
        self.quiet_turns = 0
        self.turn_start = None
        self.calls = 0
