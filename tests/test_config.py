"""Configuration: official fields, base-URL rules, validation at construction, env fallbacks."""

from __future__ import annotations

import logging
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from muxi_proto.config import (
    FORMATION_ID_PATTERN,
    RESERVED_FORMATION_IDS,
    FormationConfig,
    ServerConfig,
    env_flag,
    validate_formation_id,
)
from muxi_proto.errors import ConfigurationError, MuxiError


def test_server_config_positional_official_order() -> None:
    log = logging.getLogger("t")
    cfg = ServerConfig("https://s.example.com/", "MUXI_k", "sk_s", 3, 10, True, log, "console")
    assert (cfg.url, cfg.key_id, cfg.secret_key) == ("https://s.example.com", "MUXI_k", "sk_s")
    assert (cfg.max_retries, cfg.timeout, cfg.debug, cfg.logger, cfg._app) == (3, 10, True, log, "console")


def test_formation_config_field_order_matches_official() -> None:
    names = list(FormationConfig.__dataclass_fields__)
    assert names == [
        "formation_id", "url", "server_url", "base_url", "admin_key", "client_key", "max_retries",
        "timeout", "debug", "logger", "mode", "_app",
    ]


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"base_url": "http://localhost:9012/v1/", "url": "http://x", "server_url": "http://y",
          "formation_id": "abc"}, "http://localhost:9012/v1"),
        ({"url": "http://localhost:8001/", "server_url": "http://y", "formation_id": "abc"},
         "http://localhost:8001/v1"),
        ({"server_url": "https://s.example.com", "formation_id": "my-bot"},
         "https://s.example.com/api/my-bot/v1"),
        ({"server_url": "https://s.example.com/", "formation_id": "my-bot", "mode": "draft"},
         "https://s.example.com/draft/my-bot/v1"),
    ],
)
def test_base_url_rules(kw: dict[str, Any], expected: str) -> None:
    assert FormationConfig(**kw).resolved_base_url == expected


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"formation_id": "abc"},
        {"server_url": "https://s"},
        {"server_url": "ftp://s", "formation_id": "abc"},
        {"url": "localhost:8001"},
        {"base_url": "http://"},
        {"base_url": "http://h:notaport/v1"},
        {"base_url": "http://h/v1?x=1"},
        {"server_url": "https://s", "formation_id": "Bad_ID"},
        {"server_url": "https://s", "formation_id": "ab"},
        {"server_url": "https://s", "formation_id": "api"},
        {"server_url": "https://s", "formation_id": "abc", "mode": "staging"},
        {"url": "http://h", "admin_key": ""},
        {"url": "http://h", "client_key": "   "},
        {"url": "http://h", "max_retries": -1},
        {"url": "http://h", "max_retries": True},
        {"url": "http://h", "timeout": 0},
        {"url": "http://h", "timeout": "30"},
        {"url": "http://h", "logger": "muxi"},
    ],
)
def test_bad_formation_config_fails_at_construction(kw: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as info:
        FormationConfig(**kw)
    assert isinstance(info.value, ValueError)  # the official SDK raised ValueError
    assert info.value.message


@pytest.mark.parametrize(
    "args",
    [
        ("", "k", "s"),
        ("https://s", "", "s"),
        ("https://s", "k", " "),
        ("s.example.com", "k", "s"),
        ("https://s", None, "s"),
    ],
)
def test_bad_server_config_fails_at_construction(args: tuple[Any, ...]) -> None:
    with pytest.raises(ConfigurationError):
        ServerConfig(*args)


def test_secrets_never_in_repr() -> None:
    s = ServerConfig("https://s", "MUXI_key", "sk_very_secret")
    f = FormationConfig(url="http://h", admin_key="adm_secret", client_key="cli_secret")
    assert "sk_very_secret" not in repr(s) and "***" in repr(s)
    assert "MUXI_key" in repr(s)  # the key id is an identifier, not a secret
    assert "adm_secret" not in repr(f) and "cli_secret" not in repr(f)
    assert "client_key='***'" in repr(f)
    assert "adm_secret" not in str(f)


def test_from_env_fills_missing_and_arguments_win() -> None:
    env = {"MUXI_SERVER_URL": "https://env.example.com", "MUXI_KEY_ID": "MUXI_env",
           "MUXI_SECRET_KEY": "sk_env", "MUXI_DEBUG": "1"}
    cfg = ServerConfig.from_env(env, key_id="MUXI_arg")
    assert (cfg.url, cfg.key_id, cfg.secret_key, cfg.debug) == (
        "https://env.example.com", "MUXI_arg", "sk_env", True)


def test_from_env_missing_everything_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="MUXI_SECRET_KEY"):
        ServerConfig.from_env({}, url="https://s", key_id="k")


def test_from_env_unknown_field() -> None:
    with pytest.raises(ConfigurationError, match="unknown"):
        ServerConfig.from_env({}, url="https://s", key_id="k", secret_key="s", colour="red")


def test_formation_from_env() -> None:
    env = {"MUXI_SERVER_URL": "https://s", "MUXI_FORMATION_ID": "bot-1", "MUXI_CLIENT_KEY": "ck",
           "MUXI_ADMIN_KEY": "", "MUXI_FORMATION_MODE": "draft"}
    cfg = FormationConfig.from_env(env)
    assert cfg.resolved_base_url == "https://s/draft/bot-1/v1"
    assert cfg.client_key == "ck" and cfg.admin_key is None  # empty variables count as unset
    # An explicit URL wins over the environment's URLs.
    direct = FormationConfig.from_env(env, base_url="http://127.0.0.1:9/v1")
    assert direct.resolved_base_url == "http://127.0.0.1:9/v1"
    via_server = FormationConfig.from_env({**env, "MUXI_FORMATION_URL": "http://direct"},
                                          server_url="https://other", formation_id="bot-2")
    assert via_server.resolved_base_url == "https://other/draft/bot-2/v1"


@pytest.mark.parametrize(("value", "flag"), [(None, False), ("", False), ("0", False), ("false", False),
                                             ("No", False), ("1", True), ("true", True), ("yes", True)])
def test_env_flag(value: str | None, flag: bool) -> None:
    assert env_flag(value) is flag


@given(st.text(max_size=60))
def test_formation_id_validation_matches_the_server_rule(value: str) -> None:
    ok = FORMATION_ID_PATTERN.fullmatch(value) is not None and value not in RESERVED_FORMATION_IDS
    try:
        assert validate_formation_id(value) == value
        assert ok
    except ConfigurationError:
        assert not ok


@given(
    url=st.one_of(st.none(), st.text(max_size=40), st.from_regex(r"https?://[a-z0-9.]{1,20}(:[0-9]{1,5})?/?",
                                                                  fullmatch=True)),
    formation_id=st.one_of(st.none(), st.text(max_size=12), st.from_regex(r"[a-z0-9][a-z0-9-]{1,8}[a-z0-9]",
                                                                           fullmatch=True)),
    mode=st.sampled_from(["live", "draft", "other"]),
    key=st.one_of(st.none(), st.text(max_size=5)),
)
def test_formation_config_is_valid_or_a_configuration_error(
    url: str | None, formation_id: str | None, mode: str, key: str | None
) -> None:
    try:
        cfg = FormationConfig(formation_id=formation_id, server_url=url, mode=mode, admin_key=key)
    except ConfigurationError:
        return
    except MuxiError as exc:  # pragma: no cover - any other class would be a bug
        pytest.fail(f"unexpected {exc!r}")
    base = cfg.resolved_base_url
    assert base.startswith(("http://", "https://")) and base.endswith("/v1")


def test_configuration_error_pickles() -> None:
    with pytest.raises(ConfigurationError) as info:
        FormationConfig()
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is ConfigurationError and again.message == info.value.message


def test_configuration_errors_name_the_variables_they_would_have_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MUXI_SERVER_URL", "MUXI_FORMATION_URL", "MUXI_FORMATION_ID", "MUXI_KEY_ID", "MUXI_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigurationError) as info:
        FormationConfig()
    assert {"MUXI_FORMATION_URL", "MUXI_SERVER_URL", "MUXI_FORMATION_ID"} <= set(info.value.message.replace(
        ")", " ").replace("(", " ").replace(",", " ").split())
    with pytest.raises(ConfigurationError, match="MUXI_FORMATION_ID"):
        FormationConfig(server_url="http://127.0.0.1:9")
    with pytest.raises(ConfigurationError, match="MUXI_SERVER_URL"):
        ServerConfig("", "k", "s")
    with pytest.raises(ConfigurationError, match="MUXI_SECRET_KEY"):
        ServerConfig("http://127.0.0.1:9", "k", " ")
    with pytest.raises(ConfigurationError, match="MUXI_KEY_ID"):
        ServerConfig.from_env(environ={}, url="http://127.0.0.1:9")


def test_a_missing_key_names_its_variable() -> None:
    from muxi_proto import FormationAPI

    api = FormationAPI(url="http://127.0.0.1:9", client_key="c")
    with pytest.raises(ConfigurationError, match="MUXI_ADMIN_KEY"):
        api.get_agents().start()
    with pytest.raises(ConfigurationError, match="MUXI_CLIENT_KEY"):
        FormationAPI(url="http://127.0.0.1:9", admin_key="a").get_triggers().start()
