"""Deploy records: a colour goes live only with a release that finished deploying ok."""

from switcher import colors
from switcher.colors import DEPLOYING, FAILED, OK, ColorRecord, finished, read_record, refusal, starting

from .fakes import MemoryStore


def test_a_deploy_remembers_the_last_good_release_until_it_finishes_ok():
    first = starting(None, "r1", "r2")  # the colour came from `up` with r1
    assert (first.state, first.last_ok) == (DEPLOYING, "r1")
    failed = finished(first, error="smoke test failed")
    assert (failed.state, failed.release, failed.last_ok) == (FAILED, "r2", "r1")
    again = starting(failed, "r2", "r3")
    assert again.last_ok == "r1", "a failed release never becomes the one to go back to"
    done = finished(again)
    assert (done.state, done.last_ok) == (OK, "r3")
    assert starting(done, "r3", "r4").last_ok == "r3"


def test_refusals_name_the_reason():
    assert refusal("green", None, "r1") is None, "no record: an environment from before records"
    assert refusal("green", finished(starting(None, "r1", "r2")), "r2") is None
    unfinished = starting(None, "r1", "r2")
    assert "did not finish" in refusal("green", unfinished, "r2")
    failed = finished(unfinished, error="preview / answered 500")
    assert refusal("green", failed, "r2") == (
        f"the deploy of r2 to green failed at {failed.time}: preview / answered 500"
    )
    ok = finished(unfinished)
    assert refusal("green", ok, "r9") == "app-green runs r9, but the release deployed to it was r2"


def test_records_round_trip_and_a_torn_one_refuses():
    store = MemoryStore()
    record = ColorRecord("r2", OK, "r2", "t")
    colors.write_record(store, "blue", record)
    assert read_record(store, "blue") == record
    assert store.files["colors/blue.json"][1] == 0o600
    assert read_record(store, "green") is None
    store.write({"colors/green.json": (b'{"release": "r2", "sta', 0o600)})
    assert refusal("green", read_record(store, "green"), "r2") is not None
