"""Pure: whether one answer of the new release passes the deploy's smoke test.

A page may answer 2xx, or redirect within the site (a relative Location, or an absolute one
to a name of SITE_HOSTS): a site whose `/` redirects to `/catalog/` is fine. Anything else,
an off-site redirect included, fails with the path and what it answered.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from switcher.probe import Answer

TRANSIENT = (0, 502, 503, 504)  # no answer yet, or the lb could not reach the colour yet


def problem(path: str, answer: Answer, release: str, site_hosts: list[str]) -> str | None:
    what = f"preview {path} answered {answer.status or 'nothing'}"
    if answer.release != release:
        return f"{what} from release {answer.release or '-'}, not {release}: {answer.body[:120]!r}"
    if 200 <= answer.status < 300:
        return None
    if 300 <= answer.status < 400:
        target = urlsplit(answer.location or "")
        if not answer.location:
            return f"{what} without a Location"
        if not target.netloc or (target.scheme in ("https", "") and target.hostname in site_hosts):
            return None
        return f"{what}, a redirect off the site to {answer.location[:120]}"
    return f"{what}: {answer.body[:120]!r}"
