"""An environment started by an older switcher kept its credentials, certificate and history in
the checkout (.switcher/ENV): they move into the environment's store once, and are used from
there by every checkout."""

from switcher import history
from switcher.credentials import ensure_credentials
from switcher.store import import_local_state

from .fakes import MemoryStore


def test_local_state_moves_into_the_store_once(tmp_path):
    local = tmp_path / ".switcher" / "production"
    (local / "tls").mkdir(parents=True)
    (local / "credentials.env").write_text("DJANGO_SECRET_KEY=k\nDB_PASSWORD=p\nMAINTENANCE_TOKEN=t\n")
    (local / "tls" / "cert.pem").write_text("CERT")
    (local / "tls" / "key.pem").write_text("KEY")
    (local / "history.jsonl").write_text('{"action": "deploy", "n": 1}\n{"action": "promote", "n": 2}\n')
    store, said = MemoryStore(), []
    assert import_local_state(store, local, said.append)
    assert store.files["credentials.env"][1] == 0o600
    assert store.tls == {"cert.pem": (b"CERT", 0o644), "key.pem": (b"KEY", 0o600)}
    assert [r["n"] for r in history.read(store).records] == [1, 2]
    assert "you may delete" in said[0]
    values = ensure_credentials(store, "production", create=False)
    assert values["DB_PASSWORD"] == "p", "the database volume was initialised with this password"
    (local / "credentials.env").write_text("DB_PASSWORD=changed\n")
    assert not import_local_state(store, local, said.append), "only once: the store wins afterwards"
    assert ensure_credentials(store, "production", create=False)["DB_PASSWORD"] == "p"


def test_nothing_to_move(tmp_path):
    assert not import_local_state(MemoryStore(), tmp_path / "none", lambda _: None)
