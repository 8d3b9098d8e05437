"""One switch for every lb (switcher/switch.py), against an in-memory fake of the lb: all take
it, or none keeps it and the switch fails naming the one that did not."""

from __future__ import annotations

import pytest

from switcher.errors import SwitcherError
from switcher.switch import switch_all

from .fakes import FakeLb


def test_every_lb_takes_the_switch():
    lbs = [FakeLb(f"lb-{k}") for k in range(3)]
    switch_all(lbs, "green", "blue")
    assert [lb.routes for lb in lbs] == ["green"] * 3
    assert all(lb.flips == ["green"] for lb in lbs)


@pytest.mark.parametrize(
    ("broken", "why"),
    [
        (FakeLb("lb-2", refuses=True), "no such container"),
        (FakeLb("lb-2", ignores=True), "it routes to blue"),
    ],
)
def test_an_lb_that_does_not_take_it_switches_the_others_back(broken, why):
    lbs = [FakeLb("lb-1"), broken, FakeLb("lb-3")]
    said: list[str] = []
    with pytest.raises(SwitcherError, match=f"lb-2 did not take the switch to green .*{why}.*stays on blue"):
        switch_all(lbs, "green", "blue", said.append)
    assert [lb.routes for lb in lbs] == ["blue"] * 3
    assert lbs[0].flips == ["green", "blue"] and lbs[2].flips == ["green", "blue"]
    assert said == ["lb-2 did not take green: switching 2 lb(s) back to blue"]


def test_one_lb_that_refuses_leaves_nothing_to_switch_back():
    lb = FakeLb("lb", refuses=True)
    with pytest.raises(SwitcherError, match="lb did not take the switch to green"):
        switch_all([lb], "green", "blue")
    assert lb.routes == "blue" and lb.flips == ["green"]


class OneWayLb(FakeLb):
    """Takes the new colour, then its engine is gone before it can be switched back."""

    def set_live(self, color: str) -> str | None:
        if self.flips:
            raise SwitcherError("engine gone")
        return super().set_live(color)


def test_a_switch_back_that_fails_is_said():
    lbs = [OneWayLb("lb-1"), FakeLb("lb-2", ignores=True)]
    said: list[str] = []
    with pytest.raises(SwitcherError, match="lb-2 did not take the switch to green"):
        switch_all(lbs, "green", "blue", said.append)
    assert said[-1] == "could not switch lb-1 back to blue: the lbs disagree, see `switcher status`"


def test_no_lb_is_an_error():
    with pytest.raises(SwitcherError, match="no lb runs"):
        switch_all([], "green", "blue")


class MuteLb(FakeLb):
    """Takes the flip, but its read-back says nothing (a colour it cannot name)."""

    def set_live(self, color: str) -> str | None:
        super().set_live(color)
        return None


def test_an_lb_that_cannot_say_its_colour_fails_the_switch():
    lbs = [FakeLb("lb-1"), MuteLb("lb-2")]
    with pytest.raises(SwitcherError, match=r"lb-2 did not take the switch to green \(it routes to an unknown colour"):
        switch_all(lbs, "green", "blue")
    assert [lb.routes for lb in lbs] == ["blue", "blue"]
    assert lbs[0].flips == lbs[1].flips == ["green", "blue"]  # the one that cannot say is switched back too
