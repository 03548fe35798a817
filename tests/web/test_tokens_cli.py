"""``taskconsole tokens``: made once and shown once, for admins only; listed without the token;
revoked by id; garbage arguments are one line and exit 2."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Rows
from tests.integration.helpers import assert_one_clean_error, invoke


@pytest.fixture
def tokens(sqlite_db, tmp_path):
    rows = Rows(sqlite_db.engine)
    admin, plain = rows.user("admin", admin=True), rows.user("bob")

    def run(*args):
        return invoke(("tokens", *args), url=sqlite_db.url, cwd=tmp_path)

    return run, admin, plain


def test_create_list_revoke(tokens):
    run, admin, _ = tokens
    made = run("create", "--user", str(admin), "--name", "grafana 看板", "--json")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)
    assert set(token) == {"id", "name", "user_id", "token"} and token["name"] == "grafana 看板"
    listed = run("list", "--json")
    assert token["token"] not in listed.stdout
    assert [(t["id"], t["revoked_at"]) for t in json.loads(listed.stdout)] == [(token["id"], None)]
    text = run("create", "--user", str(admin))
    assert text.returncode == 0 and "shown once" in text.stdout and text.stdout.strip().splitlines()[-1].startswith("tc_")
    revoked = run("revoke", str(token["id"]))
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert json.loads(run("list", "--json").stdout)[0]["revoked_at"] is not None


@pytest.mark.parametrize("args, says", [
    (("create", "--user", "{plain}"), "is not an admin"),
    (("create", "--user", "424242"), "not in the task system's users table"),
    (("create", "--user", "{admin}", "--name", ""), "1 to 100 printable characters"),
    (("create", "--user", "{admin}", "--name", "x\x1b[31my"), "1 to 100 printable characters"),
    (("create", "--user", "{admin}", "--name", "n" * 101), "1 to 100 printable characters"),
    (("create", "--user", "abc"), "is not a whole number"),
    (("create", "--user", "0"), "must be from 1"),
    (("create",), "--user"),
    (("revoke", "77"), "no token has id 77"),
    (("revoke", "-1"), "must be from 1"),
])
def test_garbage_is_one_line_and_exit_2(tokens, args, says):
    run, admin, plain = tokens
    done = run(*(a.format(admin=admin, plain=plain) for a in args))
    line = assert_one_clean_error(done)
    assert says in line
    assert "\x1b" not in line
