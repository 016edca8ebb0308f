"""Running the poll loop: the only place that waits, on a real clock or by jumping a virtual one.

`run_until(stacks, condition)` turns the loop until `condition()` holds. On a real clock it waits for a
frame or the next timer deadline, whichever comes first; on a virtual clock, when no stack has anything
to do, it jumps the clock to the next deadline, so ten backed-off retransmissions take microseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pktdrv.clock import TICK_SECONDS, VirtualClock

from .stack import Stack


class Timeout(Exception):
    """A wait ran past its deadline."""


def _next_deadline(stacks: Sequence[Stack]) -> int | None:
    deadlines = [d for s in stacks if (d := s.next_deadline()) is not None]
    return min(deadlines) if deadlines else None


def wait_for_work(stack: Stack, longest: float, deadline: int | None) -> None:
    """On a real clock: sleep until a frame reaches `stack`, tick `deadline` comes, or `longest` seconds pass."""
    wait = longest
    if deadline is not None:
        wait = min(wait, max(0.0, (deadline - stack.clock.now()) * TICK_SECONDS))
    if stack.driver.link.threaded:
        stack.wait(wait)
    elif wait > 0:
        # In-process links deliver inline; there is nothing to wait for but time.
        time.sleep(min(wait, 0.001))


def run_until(stacks: Stack | Sequence[Stack], condition: Callable[[], bool], timeout: float | None = None,
              *, raise_on_timeout: bool = False) -> bool:
    """Poll until `condition()` is true. `timeout` is in seconds of the stacks' clock (virtual or real).

    Returns False when the timeout passes (or, on a virtual clock, when nothing is left that could ever
    make the condition true), unless `raise_on_timeout`.
    """
    group = [stacks] if isinstance(stacks, Stack) else list(stacks)
    clock = group[0].clock
    virtual = isinstance(clock, VirtualClock)
    start = clock.seconds()
    while True:
        busy = 0
        for stack in group:
            busy += stack.poll()
        if condition():
            return True
        elapsed = clock.seconds() - start
        if timeout is not None and elapsed >= timeout:
            break
        if busy:
            continue
        deadline = _next_deadline(group)
        if virtual:
            assert isinstance(clock, VirtualClock)
            now = clock.now()
            if deadline is None:
                if timeout is None:
                    break  # nothing will ever happen again
                deadline = now + max(1, int((timeout - elapsed) / TICK_SECONDS) + 1)
            clock.set(max(deadline, now + 1) if deadline <= now else deadline)
        else:
            longest = TICK_SECONDS if timeout is None else min(TICK_SECONDS, max(0.0, timeout - elapsed))
            wait_for_work(group[0], longest, deadline)
    if raise_on_timeout:
        raise Timeout(f"condition not met within {timeout} s")
    return False
