"""The default site's order counter: unique and gap-free across concurrent processes."""

import multiprocessing
import sys

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "images" / "site" / "default-site"))
from press.orders import next_order_id


def _take(state_dir, count, queue):
    queue.put([next_order_id(state_dir) for _ in range(count)])


def test_ids_are_unique_and_gap_free_across_processes(tmp_path):
    queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_take, args=(tmp_path, 40, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    ids = [i for _ in workers for i in queue.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(ids) == list(range(1, 161))
    assert (tmp_path / "orderid.txt").read_text() == "160\n"
