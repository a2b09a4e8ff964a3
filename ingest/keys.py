"""API keys: created, listed and revoked by `aforo keys`, checked by the collector.

The store is one SQLite file under the aforo home (`<home>/ingest/keys.sqlite3`);
every change is one transaction, so a reader never sees half a write. Only the
SHA-256 of a secret is stored: the secret is shown once, at creation. Secrets
are 32 random bytes, so a fast hash is enough (nothing to brute-force), and a
lookup by hash leaks nothing about other keys.

A key is scoped to tenants (it may write only their usage; `*` means every
tenant: for the operator's own back ends) and/or to gateway sources (it may
post that gateway's logs, the tenant of each record coming from the catalog).

A name belongs to one active key at a time, so lists and logs say which key it
was; a revoked key's name is free again (a key is rotated under its old name).
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

GATEWAY_SOURCES = ("kong", "aws-apigw", "azure-apim", "apigee", "nginx")
ALL_TENANTS = "*"
SECRET_PREFIX = "afk_"

_SCHEMA = """
create table if not exists api_keys (
    id text primary key,
    name text not null,
    secret_sha256 text not null unique,
    tenants text not null,
    gateways text not null,
    rate_per_s real,
    created_at text not null,
    revoked_at text
)
"""


class KeyStoreError(ValueError):
    """A key that cannot be created or revoked as asked (terminal: fix the arguments).
    `field` names the argument at fault (name, tenant, gateway, rate), when one is."""

    def __init__(self, problem: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    tenants: frozenset[str]
    gateways: frozenset[str]
    rate_per_s: float | None
    created_at: str
    revoked_at: str | None = None

    def may_write(self, tenant: str, source: str) -> bool:
        """May this key write `tenant`'s usage arriving from `source`?"""
        return ALL_TENANTS in self.tenants or tenant in self.tenants or source in self.gateways

    def may_post(self, source: str) -> bool:
        """May this key post to the endpoint of `source` at all?"""
        return bool(self.tenants) or source in self.gateways

    def describe(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "tenants": sorted(self.tenants),
                "gateways": sorted(self.gateways), "rate_per_s": self.rate_per_s,
                "created_at": self.created_at, "revoked_at": self.revoked_at}


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class KeyStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def under(cls, home: Path) -> KeyStore:
        return cls(home / "ingest" / "keys.sqlite3")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=10)) as db:
            db.execute("pragma journal_mode=wal")
            db.execute(_SCHEMA)
            with db:
                yield db

    def create(self, name: str, tenants: list[str], gateways: list[str],
               rate_per_s: float | None = None,
               customers: Collection[str] | None = None) -> tuple[ApiKey, str]:
        """A new key and its secret (the only time the secret exists outside the caller).
        Given the catalog's `customers`, a tenant that is none of them is refused: its
        events would be accepted and billed to nobody."""
        if not name.strip():
            raise KeyStoreError(f"must not be empty (got {name!r})", "name")
        unknown = sorted(set(gateways) - set(GATEWAY_SOURCES))
        if unknown:
            raise KeyStoreError(f"{unknown[0]!r} is not one of {', '.join(GATEWAY_SOURCES)}",
                                "gateway")
        if not tenants and not gateways:
            raise KeyStoreError("a key needs at least one tenant or one gateway scope")
        blank = [t for t in tenants if not t.strip()]
        if blank:
            raise KeyStoreError(f"must not be empty (got {blank[0]!r})", "tenant")
        if customers is not None:
            strangers = sorted(set(tenants) - {ALL_TENANTS} - set(customers))
            if strangers:
                listed = ", ".join(sorted(customers)) or "none"
                raise KeyStoreError(f"{strangers[0]!r} is not a customer in the catalog"
                                    f" (customers: {listed})", "tenant")
        if rate_per_s is not None and not 0 < rate_per_s < math.inf:  # NaN: SQLite's NULL, no limit
            raise KeyStoreError(f"must be positive (got {rate_per_s:g})", "rate")
        key_id = secrets.token_hex(6)
        secret = f"{SECRET_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        key = ApiKey(key_id, name, frozenset(tenants), frozenset(gateways), rate_per_s, _now())
        with self._db() as db:
            db.execute("begin immediate")  # no other key can take the name before the insert
            taken = db.execute("select id from api_keys where name = ? and revoked_at is null",
                               (name,)).fetchone()
            if taken:
                raise KeyStoreError(f"{name!r} is the name of active key {taken[0]}"
                                    " (revoke it, or choose another name)", "name")
            db.execute(
                "insert into api_keys (id, name, secret_sha256, tenants, gateways, rate_per_s,"
                " created_at) values (?, ?, ?, ?, ?, ?, ?)",
                (key.id, name, hash_secret(secret), json.dumps(sorted(tenants)),
                 json.dumps(sorted(gateways)), rate_per_s, key.created_at))
        return key, secret

    def revoke(self, key_id: str) -> ApiKey:
        with self._db() as db:
            found = db.execute("update api_keys set revoked_at = ? where id = ? and revoked_at is null",
                               (_now(), key_id)).rowcount
        if not found:
            known = {k.id: k for k in self.list(include_revoked=True)}
            if key_id in known:
                raise KeyStoreError(f"key {key_id} was already revoked at {known[key_id].revoked_at}")
            raise KeyStoreError(f"no key with id {key_id!r}")
        return next(k for k in self.list(include_revoked=True) if k.id == key_id)

    def _rows(self) -> list[tuple[str, ApiKey]]:
        if not self.path.exists():
            return []
        with self._db() as db:
            rows = db.execute("select id, name, secret_sha256, tenants, gateways, rate_per_s,"
                              " created_at, revoked_at from api_keys order by created_at, id").fetchall()
        return [(digest, ApiKey(kid, name, frozenset(json.loads(tenants)),
                                frozenset(json.loads(gateways)), rate, created, revoked))
                for kid, name, digest, tenants, gateways, rate, created, revoked in rows]

    def list(self, include_revoked: bool = False) -> list[ApiKey]:
        return [key for _, key in self._rows() if include_revoked or key.revoked_at is None]

    def active_by_hash(self) -> dict[str, ApiKey]:
        return {digest: key for digest, key in self._rows() if key.revoked_at is None}

    def signature(self) -> tuple[float, int] | None:
        """Changes whenever the store is written (the WAL file counts too)."""
        try:
            stats = [p.stat() for p in (self.path, self.path.with_name(self.path.name + "-wal"))
                     if p.exists()]
        except FileNotFoundError:
            return None
        return (max(s.st_mtime for s in stats), sum(s.st_size for s in stats)) if stats else None


class Authenticator:
    """The active keys in memory, re-read when the store changed (checked at most
    once a second), so `aforo keys revoke` takes effect within a second or two."""

    def __init__(self, store: KeyStore, recheck_s: float = 1.0) -> None:
        self.store = store
        self.recheck_s = recheck_s
        self._keys: dict[str, ApiKey] = {}
        self._signature: tuple[float, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self.reload()

    def reload(self) -> None:
        with self._lock:
            self._signature = self.store.signature()
            self._keys = self.store.active_by_hash()
            self._checked = time.monotonic()

    def lookup(self, secret: str) -> ApiKey | None:
        """The active key of this secret. A hit re-checks the store once a second (so a
        revocation takes effect within about a second); a miss re-checks at once (one
        stat call), so a key works as soon as `aforo keys create` returns."""
        key = self._keys.get(hash_secret(secret))
        if key is None or time.monotonic() - self._checked > self.recheck_s:
            self._checked = time.monotonic()
            if self.store.signature() != self._signature:
                self.reload()
                key = self._keys.get(hash_secret(secret))
        return key
