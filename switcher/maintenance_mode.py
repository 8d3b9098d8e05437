"""maintenance on/off over the engine interface (engine.py), the same on one engine and on a
Swarm: every lb (one, or one per lb node) shows the live release's maintenance page, side by
side, under the environment's lock and in the history. An lb that could not take it is named
and the command fails; run again, it sets every lb (each write is idempotent)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from switcher import history
from switcher.config import other_color
from switcher.engine import Engine, require_every_lb
from switcher.errors import SwitcherError
from switcher.maintenance import render_page, state_json
from switcher.switch import LbContainer, side_by_side


def set_maintenance(
    engine: Engine, on: bool, token: str, message: str | None, retry_after: int, networks: list[str]
) -> str:
    """Maintenance on (with `token` for the bypass) or off on every lb, under the lock and in the
    history; the release whose page it shows."""
    state = "on" if on else "off"
    started = time.monotonic()
    with engine.locked(f"maintenance {state}"):
        fields: dict[str, object] = {"state": state, "message": message or "", "allow": networks}
        try:
            release = apply_maintenance(engine, on, token, message, retry_after, networks)
        except SwitcherError as error:
            history.record(engine.store, engine.env.name, "maintenance", started, "failed", **fields, error=str(error))
            raise
        history.record(engine.store, engine.env.name, "maintenance", started, "ok", **fields, release=release)
        return release


def apply_maintenance(
    engine: Engine, on: bool, token: str, message: str | None, retry_after: int, networks: list[str]
) -> str:
    """Maintenance on or off on every lb, side by side, and committed for an lb that is away (a
    Swarm node down or cut off takes it when back, before it serves: nginx/lb-follow.sh); the
    caller holds the lock."""
    state_name = "on" if on else "off"
    live = engine.routing().required()  # the page of the release live now
    release = engine.color(live).release or engine.color(other_color(live)).release or "?"
    lbs = engine.lbs()
    page, state = "", None
    if on:
        page = render_page(published_page(lbs, release), message)
        state = state_json(token, message, retry_after, networks, release)
    generation = time.time_ns()  # later than any earlier switch's: lb-follow takes newer ones only
    away = engine.away_lbs()
    why = engine.commit_maintenance(lbs, page, state, generation)  # the lbs read above: no second listing
    if away and why is not None:
        engine.report(f"note: maintenance {state_name} could not be committed for lbs that are away ({why})")
        if on:  # an lb that comes back without it would serve past the page
            require_every_lb(engine, "maintenance on")
        engine.report(f"note: the lb on {', '.join(away)} cannot be reached: it keeps its maintenance page until "
                      "`switcher maintenance off` runs again once it is back")  # fmt: skip
    elif away:
        engine.report(f"note: the lb on {', '.join(away)} cannot be reached now: it takes maintenance {state_name} "
                      "when its node is back, before it serves")  # fmt: skip
    elif why is not None:
        engine.report(f"note: maintenance {state_name} could not be committed ({why}): an lb whose node goes away "
                      "later comes back as it was before this command")  # fmt: skip

    results = side_by_side(lbs, lambda lb: lb.set_maintenance(page, state, generation))
    failed = [(lb, result) for lb, result in zip(lbs, results, strict=True) if isinstance(result, SwitcherError)]
    if failed:
        lb, error = failed[0]
        raise SwitcherError(
            f"maintenance is {state_name} on {len(lbs) - len(failed)} of {len(lbs)} lb(s): {lb.name}: {error}; "
            "run the command again"
        )
    return release


def published_page(lbs: Sequence[LbContainer], release: str) -> str:
    """`release`'s maintenance page, from the first lb that has it: every lb gets that page, also
    one whose node lacks the release's files (back from an outage, before `switcher up`)."""
    error = SwitcherError("no lb runs: nothing serves the maintenance page")
    for lb in lbs:
        try:
            return lb.maintenance_page(release)
        except SwitcherError as missing:
            error = missing
    raise error
