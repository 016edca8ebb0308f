"""The edge: the only place that reads the clock and the only place that waits.

`turn(stack)` reads the stack's clock and polls the stack at that tick. `wait_for_work` sleeps in
`select` on every link's descriptor and the program's own (stdin, say) until one is readable, the next
deadline comes, or a limit passes. `run_until(stacks, condition)` turns the loop until `condition()`
holds; on a virtual clock, when no stack has anything to do, it jumps the clock to the next deadline, so
ten backed-off retransmissions take microseconds.

Frames reach the stacks only from here: a poll drains each link on this line, so the packet driver's
upcalls never run on another thread.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Sequence

from pktdrv.clock import TICK_SECONDS, VirtualClock

from .stack import Stack


class Timeout(Exception):
    """A wait ran past its deadline."""


def turn(stack: Stack) -> int:
    """Poll `stack` at its clock's tick (and give it the fine time, for ISNs); returns frames handled."""
    clock = stack.clock
    stack.set_fine_time(clock.seconds())
    return stack.poll(clock.now())


def _next_deadline(stacks: Sequence[Stack]) -> int | None:
    deadlines = [d for s in stacks if (d := s.next_deadline()) is not None]
    return min(deadlines) if deadlines else None


def wait_for_work(stacks: Stack | Sequence[Stack], longest: float, deadline: int | None,
                  fds: Sequence[int] = ()) -> list[int]:
    """On a real clock: sleep until a link has frames, one of `fds` is readable, tick `deadline` comes, or
    `longest` seconds pass. Returns the members of `fds` that are readable."""
    group = [stacks] if isinstance(stacks, Stack) else list(stacks)
    wait = longest
    if deadline is not None:
        wait = min(wait, max(0.0, (deadline - group[0].clock.now()) * TICK_SECONDS))
    links = [fd for s in group if (fd := s.fileno()) is not None]
    watch = links + list(fds)
    if not links and wait > 0:
        # In-process links deliver inline; there is nothing to wait for on them but time.
        wait = min(wait, 0.001)
    if not watch:
        if wait > 0:
            time.sleep(wait)
        return []
    try:
        ready, _, _ = select.select(watch, [], [], wait)
    except InterruptedError:
        return []
    return [fd for fd in ready if fd in fds]


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
            busy += turn(stack)
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
            wait_for_work(group, longest, deadline)
    if raise_on_timeout:
        raise Timeout(f"condition not met within {timeout} s")
    return False
