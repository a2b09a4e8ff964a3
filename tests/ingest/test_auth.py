"""API keys: 401 without a valid key, 403 for another tenant's usage, and the CLI."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from aforo.settings import Settings
from ingest.cli import keys as keys_cli
from ingest.keys import KeyStore, hash_secret
from tests.ingest.conftest import Collector, sample

EVENT = {"tenant_id": "acme", "metric": "payment", "value": "1", "idempotency_key": "auth-1"}


@pytest.mark.kafka
def test_no_key_is_401(collector: Collector) -> None:
    reply = collector.post("/v1/events", EVENT)
    assert reply.status == 401
    assert reply.headers["www-authenticate"].startswith("Bearer")
    assert reply.body["error"]["field"] == "Authorization"


@pytest.mark.kafka
def test_a_wrong_key_is_401(collector: Collector) -> None:
    collector.key("acme")
    reply = collector.post("/v1/events", EVENT, key="afk_000000000000_not-a-real-secret")
    assert reply.status == 401
    assert reply.body["error"]["problem"] == "unknown or revoked API key"
    basic = collector.post("/v1/events", EVENT, headers={"Authorization": "Basic YWNtZTp4"})
    assert basic.status == 401


@pytest.mark.kafka
def test_another_tenants_key_is_403(collector: Collector) -> None:
    key = collector.key("globex")
    reply = collector.post("/v1/events", EVENT, key=key)
    assert reply.status == 403
    assert reply.body["results"][0]["error"]["field"] == "tenant_id"
    assert "may not write usage of tenant 'acme'" in reply.body["results"][0]["error"]["problem"]
    assert collector.events() == []


@pytest.mark.kafka
def test_a_gateway_key_cannot_post_events_or_another_gateway(collector: Collector) -> None:
    key = collector.key(gateways=("kong",))
    assert collector.post("/v1/events", EVENT, key=key).status == 403
    reply = collector.post("/v1/gateways/apigee", sample("apigee_js.json"), key=key)
    assert reply.status == 403
    assert "scoped to kong, not apigee" in reply.body["error"]["problem"]


@pytest.mark.kafka
def test_a_revoked_key_is_refused_within_a_couple_of_seconds(collector: Collector) -> None:
    key, secret = collector.keys.create("soon gone", ["acme"], [])
    assert collector.post("/v1/events", EVENT, key=secret).status == 202
    collector.keys.revoke(key.id)
    deadline = time.monotonic() + 5
    while collector.post("/v1/events", EVENT, key=secret).status != 401:
        assert time.monotonic() < deadline, "revoked key still accepted"
        time.sleep(0.2)


@pytest.mark.kafka
def test_a_star_key_writes_every_tenant(collector: Collector) -> None:
    key = collector.key("*")
    assert collector.post("/v1/events", {**EVENT, "tenant_id": "stark"}, key=key).status == 202


def test_secrets_are_stored_hashed(tmp_path: Path) -> None:
    store = KeyStore.under(tmp_path)
    key, secret = store.create("billing backend", ["acme"], [])
    with sqlite3.connect(store.path) as db:
        dump = "\n".join(db.iterdump())
    assert secret not in dump
    assert hash_secret(secret) in dump
    assert secret.startswith(f"afk_{key.id}_")


class _Obj:
    """What `aforo` hands its subcommands (settings on demand); the group is invoked
    alone so this test does not import every other stage's CLI."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def get(self) -> Settings:
        return Settings(home=self.home)


def _keys(runner: CliRunner, home: Path, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(keys_cli, list(args), obj=_Obj(home))


def test_keys_cli_create_list_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    created = _keys(runner, tmp_path, "create", "--name", "kong prod", "--gateway", "kong",
                    "--tenant", "acme", "--rate", "500")
    assert created.exit_code == 0, created.output
    shown = json.loads(created.stdout)
    assert shown["gateways"] == ["kong"] and shown["tenants"] == ["acme"]
    assert shown["rate_per_s"] == 500 and shown["secret"].startswith("afk_")

    listed = _keys(runner, tmp_path, "list")
    assert listed.exit_code == 0
    assert shown["id"] in listed.stdout and "kong prod" in listed.stdout
    assert shown["secret"] not in listed.stdout

    revoked = _keys(runner, tmp_path, "revoke", shown["id"])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert shown["id"] not in _keys(runner, tmp_path, "list").stdout
    every = _keys(runner, tmp_path, "list", "--all", "--json").stdout
    assert json.loads(every.splitlines()[0])["revoked_at"] is not None

    again = _keys(runner, tmp_path, "revoke", shown["id"])
    assert again.exit_code == 2 and "already revoked" in again.output


@pytest.mark.parametrize("args, problem", [
    (["--name", "x"], "at least one tenant or one gateway"),
    (["--name", "x", "--gateway", "envoy"], "Invalid value for '--gateway'"),
    (["--name", "x", "--tenant", "acme", "--rate", "0"], "Invalid value for '--rate': must be positive (got 0)"),
    (["--name", "x", "--tenant", "acme", "--rate", "nan"], "Invalid value for '--rate': must be positive (got nan)"),
    (["--name", "x", "--tenant", "acme", "--rate", "inf"], "Invalid value for '--rate': must be positive (got inf)"),
    (["--name", "", "--tenant", "acme"], "Invalid value for '--name': must not be empty (got '')"),
    (["--name", "  ", "--gateway", "kong"], "Invalid value for '--name': must not be empty (got '  ')"),
    (["--name", "x", "--tenant", "acme", "--tenant", "acmee"],
     "Invalid value for '--tenant': 'acmee' is not a customer in the catalog"
     " (customers: acme, globex, hooli, initech, stark, umbrella)"),
])
def test_keys_cli_refuses_bad_keys(tmp_path: Path, args: list[str], problem: str) -> None:
    result = _keys(CliRunner(), tmp_path, "create", *args)
    assert result.exit_code == 2
    assert problem in result.output
    assert _keys(CliRunner(), tmp_path, "list", "--all", "--json").stdout == ""


def test_a_name_belongs_to_one_active_key_until_it_is_revoked(tmp_path: Path) -> None:
    runner = CliRunner()
    first = _keys(runner, tmp_path, "create", "--name", "kong prod", "--gateway", "kong")
    assert first.exit_code == 0, first.output
    key_id = json.loads(first.stdout)["id"]

    again = _keys(runner, tmp_path, "create", "--name", "kong prod", "--tenant", "*")
    assert again.exit_code == 2
    assert (f"Invalid value for '--name': 'kong prod' is the name of active key {key_id}"
            " (revoke it, or choose another name)") in again.output

    assert _keys(runner, tmp_path, "revoke", key_id).exit_code == 0
    rotated = _keys(runner, tmp_path, "create", "--name", "kong prod", "--gateway", "kong")
    assert rotated.exit_code == 0, rotated.output
    listed = _keys(runner, tmp_path, "list", "--all", "--json").stdout.splitlines()
    active = {key["id"]: key["revoked_at"] is None for key in map(json.loads, listed)}
    assert active == {key_id: False, json.loads(rotated.stdout)["id"]: True}
