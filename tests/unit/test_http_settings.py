"""Settings http.listen, http.public_metrics and alerts.webhook_url: bad values are refused naming
the key, before anything starts."""

from __future__ import annotations

import pytest

from console.settings import SettingsError, load_settings, parse_listen


@pytest.mark.parametrize("listen, parsed", [("127.0.0.1:5000", ("127.0.0.1", 5000)), ("[::1]:8080", ("::1", 8080)),
                                            ("0.0.0.0:1", ("0.0.0.0", 1)), ("api.internal:65535", ("api.internal", 65535))])
def test_good_addresses(listen, parsed):
    assert parse_listen(listen) == parsed


@pytest.mark.parametrize("key, value", [
    ("http.listen", "5000"), ("http.listen", ":5000"), ("http.listen", "host:0"), ("http.listen", "host:65536"),
    ("http.listen", "a b:80"), ("http.listen", "user@host:80"), ("http.listen", 5000),
    ("http.public_metrics", "maybe"),
    ("alerts.webhook_url", "ftp://x/y"), ("alerts.webhook_url", "hooks.example.com/x"), ("alerts.webhook_url", "http://"),
])
def test_bad_values_name_their_key(tmp_path, key, value):
    import yaml

    section, name = key.split(".")
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({section: {name: value}}))
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        load_settings(path, env={})


def test_off_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./settings.yaml here
    settings = load_settings(None, env={})
    assert settings.http.listen is None and settings.alerts.webhook_url is None and not settings.http.public_metrics
