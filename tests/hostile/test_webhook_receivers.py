"""Webhook URLs the sender cannot or must not request (#24 item 9): ftp, file, a port that is not
a number from 1 to 65535, a space. Each is refused at load naming ``alerts.webhook_url`` and
quoting none of the URL (its password), and ``config check`` exits 2.
"""

from __future__ import annotations

import pytest

from console.settings import SettingsError, load_settings
from tests.unit.test_config_check import check

LOCAL = "127.0.0.1"


@pytest.mark.parametrize("url, words", [
    ("ftp://u:s3cret@{here}/x", "must be an http:// or https:// URL"),
    ("file:///etc/s3cret", "must be an http:// or https:// URL"),
    ("http://u:s3cr/et@{here}/x", "port from 1 to 65535"),  # an unencoded "/" cuts the password
    ("http://u:s3cret@{host}:99999/x", "port from 1 to 65535"),
    ("http://u:s3cret@ho st/x", "no spaces"),
    ("http://u:s3cret@{host}:0/x", "port from 1 to 65535"),
])
def test_a_url_that_cannot_be_requested_is_refused_at_load_quoting_none_of_it(tmp_path, url, words):
    url = url.format(here=f"{LOCAL}:9", host=LOCAL)
    path = tmp_path / "settings.yaml"
    path.write_text(f"alerts:\n  webhook_url: '{url}'\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path, env={})
    assert ": alerts.webhook_url: " in str(err.value) and words in str(err.value)
    assert "s3cr" not in str(err.value)


def test_config_check_refuses_an_ftp_webhook_with_exit_2_and_no_password(tmp_path):
    result = check(tmp_path, text="alerts:\n  webhook_url: 'ftp://ops:s3cret@127.0.0.1/x'\n")
    assert result.returncode == 2
    assert ": alerts.webhook_url: must be an http:// or https:// URL" in result.stderr
    assert "s3cret" not in result.stdout + result.stderr and "Traceback" not in result.stderr
