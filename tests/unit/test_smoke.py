"""deploy's smoke test: 2xx, or a redirect within the site, from the new release."""

import pytest

from switcher.probe import Answer
from switcher.smoke import problem

HOSTS = ["www.example.org", "127.0.0.1"]


@pytest.mark.parametrize(
    ("answer", "passes"),
    [
        (Answer(200, "r2", "ok"), True),
        (Answer(204, "r2", ""), True),
        (Answer(301, "r2", "", "/catalog/"), True),  # the tutorial site's root
        (Answer(302, "r2", "", "https://www.example.org/catalog/"), True),
        (Answer(302, "r2", "", "https://127.0.0.1:9443/catalog/"), True),
        (Answer(302, "r2", "", "https://evil.example/"), False),
        (Answer(302, "r2", "", "http://www.example.org/"), False),  # off https
        (Answer(302, "r2", "", "//evil.example/"), False),
        (Answer(302, "r2", "", None), False),
        (Answer(404, "r2", "not found"), False),
        (Answer(500, "r2", "boom"), False),
        (Answer(200, "r1", "the old release"), False),
        (Answer(0, None, "connection refused"), False),
    ],
)
def test_what_passes(answer, passes):
    assert (problem("/", answer, "r2", HOSTS) is None) == passes


def test_a_failure_names_the_path_and_what_it_answered():
    assert problem("/shop/", Answer(404, "r2", "Not Found"), "r2", HOSTS) == "preview /shop/ answered 404: 'Not Found'"
    off = problem("/", Answer(302, "r2", "", "https://evil.example/x"), "r2", HOSTS)
    assert off == "preview / answered 302, a redirect off the site to https://evil.example/x"
