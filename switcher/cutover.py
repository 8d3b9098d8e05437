"""deploy, promote and rollback on one Docker engine: their named steps are written once for
every engine (deployment.py, promotion.py) and run here over compose_engine.py; maintenance,
cron, configuration files and pruning are chores.py, what runs and the store session.py."""

from __future__ import annotations

from switcher.chores import Chores
from switcher.compose_engine import ComposeEngine
from switcher.deployment import Deployment
from switcher.plans import Options
from switcher.promotion import Promotion


class Cutover(Chores):
    @property
    def engine(self) -> ComposeEngine:
        return ComposeEngine(self)

    def deploy(self, release: str, options: Options, dry_run: bool, then_promote: bool) -> None:
        Deployment(self.engine).deploy(release, options, dry_run, then_promote)

    def promote(self, target: str | None, options: Options, dry_run: bool, expected_release: str | None = None) -> None:
        Promotion(self.engine).promote(target, options, dry_run, expected_release)

    def rollback(self, options: Options, dry_run: bool) -> None:
        Promotion(self.engine).rollback(options, dry_run)
