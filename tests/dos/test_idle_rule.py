"""The rule for idle sleeping (pktdrv/dos/idle.py): a polling program with nothing to do sleeps; one with
frames waiting, or that did something since its last idle call, does not. Turns of the program's loop are
counted by where its idle calls come from."""

from __future__ import annotations

from pktdrv.dos.idle import CALLS_PER_TURN_LIMIT, CREDIT_LIMIT, QUIET_TURNS, IdleRule

LOOP = (0x1000_0100, 0x1000_0180, 0x1000_01C0)  # NC's turn: INT 16h/01h, INT 28h, INT 2Fh/1680h


def turns_until_sleep(rule: IdleRule, sites: tuple[int, ...] = LOOP, limit: int = 10_000) -> int:
    """Whole loop turns run before an idle call sleeps (the turn that sleeps counted)."""
    for turn in range(1, limit + 1):
        for site in sites:
            if rule.may_sleep(site):
                return turn
    raise AssertionError("never sleeps")


def test_a_quiet_loop_sleeps_after_two_turns_whatever_its_calls_per_turn() -> None:
    for sites in (LOOP, LOOP[:1], (1, 2, 3, 4, 5, 6, 7)):
        rule = IdleRule()
        assert turns_until_sleep(rule, sites) == QUIET_TURNS + 1  # the first turn starts the count
        assert turns_until_sleep(rule, sites) == QUIET_TURNS + 1


def test_activity_since_the_last_idle_call_never_sleeps() -> None:
    rule = IdleRule()
    for _ in range(100):
        rule.note_activity()  # e.g. NC sends a segment every loop turn
        assert not any(rule.may_sleep(site) for site in LOOP)


def test_each_frame_handed_over_buys_a_turn() -> None:
    for frames in (1, 10, 100):
        rule = IdleRule()
        for _ in range(frames):
            rule.note_frame()
        assert turns_until_sleep(rule) == 1 + frames + QUIET_TURNS


def test_the_credit_is_bounded() -> None:
    rule = IdleRule()
    for _ in range(10 * CREDIT_LIMIT):
        rule.note_frame()
    assert turns_until_sleep(rule) == 1 + CREDIT_LIMIT + QUIET_TURNS


def test_calls_that_never_repeat_an_address_still_make_turns() -> None:
    rule = IdleRule()
    calls = 0
    while not rule.may_sleep(0x2000_0000 + calls):
        calls += 1
    assert calls == QUIET_TURNS * CALLS_PER_TURN_LIMIT
