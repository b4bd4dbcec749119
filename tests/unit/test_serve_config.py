"""`execbox serve`'s settings: the TOML config file, flags over it, and the refusal to
serve beyond loopback without API keys."""

from __future__ import annotations

import pytest

from execbox.cli.main import build_parser
from execbox.cli.serve_cmd import build_settings
from execbox.errors import ConfigError


def _args(*argv: str):
    return build_parser().parse_args(["serve", *argv])


def test_defaults_serve_loopback_without_keys():
    host, port, settings = build_settings(_args())
    assert (host, port) == ("127.0.0.1", 8000)
    assert settings.api_keys == () and settings.rate_limit == 0
    assert settings.shutdown_grace_s == 30.0 and settings.cors_origins == ()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org", ""])
def test_beyond_loopback_needs_keys_or_an_explicit_waiver(host):
    with pytest.raises(ConfigError, match="without API keys"):
        build_settings(_args("--host", host))
    assert build_settings(_args("--host", host, "--allow-unauthenticated"))[0] == host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_keys(host):
    assert build_settings(_args("--host", host))[0] == host


def test_a_config_file_sets_everything_and_flags_win(tmp_path):
    (tmp_path / "keys").write_text("k1\n\nk2\n")
    (tmp_path / "users").write_text("admin-token\n")
    config = tmp_path / "execbox.toml"
    config.write_text("""
host = "0.0.0.0"
port = 9000
api_key_file = "keys"
judge0_auth_user_token_file = "users"
concurrency = 3
queue = 7
rate_limit = 2.5
rate_burst = 5
key_concurrency = 2
cors_origins = ["https://a.example", "https://b.example"]
shutdown_grace_s = 12
warm_languages = ["python"]
runs_db = "runs.sqlite"

[pool]
min_warm = 0
max_size = 3

[sandbox]
uid_base = 700000
slots = 16
cgroup_parent = "execbox-elsewhere"

[runner]
zygote_mode = "exec"
""")
    host, port, s = build_settings(_args("--config", str(config), "--port", "9001",
                                         "--cors-origin", "https://c.example"))
    assert (host, port) == ("0.0.0.0", 9001)  # keys given: beyond loopback is fine
    assert s.api_keys == ("k1", "k2") and s.judge0_auth_user_tokens == ("admin-token",)
    assert (s.concurrency, s.queue, s.rate_limit, s.rate_burst, s.key_concurrency) == \
        (3, 7, 2.5, 5, 2)
    assert s.cors_origins == ("https://c.example",)
    assert s.shutdown_grace_s == 12.0 and s.warm_languages == ("python",)
    assert s.runs_path == str(tmp_path / "runs.sqlite")
    assert (s.pool.min_warm, s.pool.max_size) == (0, 3)
    assert (s.sandbox.uid_base, s.sandbox.slots) == (700000, 16)
    assert s.sandbox.cgroup.parent == "execbox-elsewhere" and s.sandbox.cgroup.version == "auto"
    assert s.runner.zygote_mode == "exec"


@pytest.mark.parametrize("text,message", [
    ("surprise = 1", "unknown setting"),
    ("api_keys = ['x']", "api_key_file"),
    ("queue = 'many'", "queue must be an integer"),
    ("cors_origins = 'x'", "list of strings"),
    ("rate_limit = -1", "cannot be negative"),
    ("[pool]\nmin_warm = 5\nmax_size = 1", "min_warm"),
    ("[pool]\nsize = 1", "unknown \\[pool\\]"),
    ("[sandbox]\nuid_base = 10", "uid_base"),
    ("sandbox = 3", "sandbox must be a table"),
    ("[runner]\nzygote_mode = 'spawn'", "zygote_mode must be exec or fork"),
    ("port = ", "execbox.toml"),
])
def test_a_bad_config_file_is_a_clear_error(tmp_path, text, message):
    config = tmp_path / "execbox.toml"
    config.write_text(text + "\n")
    with pytest.raises(ConfigError, match=message):
        build_settings(_args("--config", str(config)))


def test_an_empty_key_file_is_refused(tmp_path):
    (tmp_path / "keys").write_text("\n")
    with pytest.raises(ConfigError, match="holds no API key"):
        build_settings(_args("--api-key-file", str(tmp_path / "keys")))
