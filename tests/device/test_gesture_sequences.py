"""Human press sequences on check-in alone, at any speed and with contact bounce: never a duress.

A person pressing "to be sure" presses again and again, 60 to 400 ms apart, each press as long as
a finger makes it, and a worn switch chatters for a few milliseconds at every make and break.
Whatever they do with check-in alone, the unit makes check-ins (one per press) and nothing that
raises an alarm.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from loneguard.device.gestures import ButtonName, Gesture, GestureMachine, GestureTiming

CHECKIN = ButtonName.CHECKIN
TIMING = GestureTiming()

# Contact bounce: a few toggles, each under 10 ms, at the make and at the break.
bounce = st.lists(st.floats(0.0005, 0.01), max_size=6)
human_press = st.tuples(
    st.floats(0.06, 0.4),  # the gap since the last release: 60-400 ms
    st.floats(0.03, 0.6),  # how long the finger holds the button down (short of a hold)
    bounce,  # chatter as the contacts close
    bounce,  # chatter as they open
)


def chatter(
    settles_to: bool, delays: list[float], t: float
) -> tuple[list[tuple[bool, float]], float]:
    """The edges of a contact settling to ``settles_to`` at ``t``: it flips back and forth after
    each of ``delays``, ending where it settles. Returns the edges and the time of the last."""
    edges = [(settles_to, t)]
    for i, d in enumerate(delays):
        t += d
        edges.append((settles_to if i % 2 else not settles_to, t))
    if len(delays) % 2:
        t += 0.001
        edges.append((settles_to, t))
    return edges, t


def edges_of(
    presses: list[tuple[float, float, list[float], list[float]]],
) -> list[tuple[bool, float]]:
    """The pin's edges (pressed, time) for ``presses``, chatter included."""
    edges: list[tuple[bool, float]] = []
    now = 0.0
    for gap, length, make, brk in presses:
        now += gap
        made, t = chatter(True, make, now)
        broken, now = chatter(False, brk, max(t, now + length))
        edges += made + broken
    return edges


@settings(max_examples=300, deadline=None)
@given(st.lists(human_press, min_size=1, max_size=25))
def test_checkin_alone_never_yields_duress(
    presses: list[tuple[float, float, list[float], list[float]]],
) -> None:
    m = GestureMachine(timing=TIMING)
    out = []
    for pressed, at in edges_of(presses):
        out += m.edge(CHECKIN, pressed, at)
    out += m.tick(10_000.0)
    assert all(r.gesture is Gesture.CHECKIN for r in out), out
    assert len(out) == len(presses)  # one check-in per human press, the chatter absorbed


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.floats(0.0, 0.06))
def test_presses_at_any_speed_are_checkins_never_an_alarm(count: int, gap: float) -> None:
    # Faster than any person, down to gaps the unit takes for contact bounce (under the 50 ms
    # settle time, where the presses run together into one long press): never an alarm.
    m = GestureMachine(timing=TIMING)
    out = []
    now = 0.0
    for _ in range(count):
        out += m.edge(CHECKIN, True, now)
        now += 0.05
        out += m.edge(CHECKIN, False, now)
        now += gap
    out += m.tick(now + 10.0)
    assert out and not {r.gesture for r in out} & {Gesture.DURESS, Gesture.PANIC}
    if gap >= TIMING.settle:
        assert [r.gesture for r in out] == [Gesture.CHECKIN] * count
