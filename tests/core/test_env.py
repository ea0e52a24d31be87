import pytest
from django.core.exceptions import ImproperlyConfigured

from homesec.env import (
    database_from_url,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_rate,
    load_env_file,
    url_parts,
)


def test_it_reads_numbers_booleans_and_choices(monkeypatch):
    monkeypatch.setenv("HS_T_INT", "42")
    monkeypatch.setenv("HS_T_FLOAT", "0.25")
    monkeypatch.setenv("HS_T_BOOL", "yes")
    monkeypatch.setenv("HS_T_CHOICE", "Debug")
    assert env_int("HS_T_INT", 1) == 42
    assert env_float("HS_T_FLOAT", 1.0) == 0.25
    assert env_bool("HS_T_BOOL") is True
    assert env_choice("HS_T_CHOICE", "info", ("debug", "info")) == "debug"
    assert env_int("HS_T_MISSING", 7) == 7


@pytest.mark.parametrize(
    ("reader", "value", "message"),
    [
        (lambda: env_int("HS_T", 1), "ten", "HS_T='ten' is not a whole number"),
        (lambda: env_int("HS_T", 1, minimum=1), "0", "HS_T=0 is below the minimum 1"),
        (lambda: env_float("HS_T", 1.0), "nan", "not a finite number"),
        (lambda: env_bool("HS_T"), "maybe", "HS_T='maybe' is not a boolean"),
        (lambda: env_choice("HS_T", "a", ("a", "b")), "c", "must be one of: a, b"),
    ],
)
def test_it_refuses_bad_values_naming_the_variable(monkeypatch, reader, value, message):
    monkeypatch.setenv("HS_T", value)
    with pytest.raises(ImproperlyConfigured, match=message):
        reader()


def test_it_parses_postgres_and_sqlite_urls(tmp_path):
    pg = database_from_url("postgres://u:p%40ss@db.local:5433/homesec?sslmode=require", sqlite_default=tmp_path / "x")
    assert (pg["ENGINE"], pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "django.db.backends.postgresql",
        "homesec",
        "u",
        "p@ss",
        "db.local",
        "5433",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    lite = database_from_url("sqlite:////var/lib/homesec/db.sqlite3", sqlite_default=tmp_path / "x")
    assert lite["NAME"] == "/var/lib/homesec/db.sqlite3"
    assert lite["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in lite["OPTIONS"]["init_command"]
    assert database_from_url("", sqlite_default=tmp_path / "d.sqlite3")["NAME"] == str(tmp_path / "d.sqlite3")
    with pytest.raises(ImproperlyConfigured, match="scheme 'mysql' is not supported"):
        database_from_url("mysql://x/y", sqlite_default=tmp_path / "x")


def test_an_env_file_fills_only_unset_variables(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nHS_T_A=from-file\nexport HS_T_B='quoted value'\nHS_T_C=file\n")
    monkeypatch.delenv("HS_T_A", raising=False)
    monkeypatch.delenv("HS_T_B", raising=False)
    monkeypatch.setenv("HS_T_C", "real")
    load_env_file(env_file)
    import os

    assert (os.environ["HS_T_A"], os.environ["HS_T_B"], os.environ["HS_T_C"]) == ("from-file", "quoted value", "real")
    monkeypatch.delenv("HS_T_A")
    monkeypatch.delenv("HS_T_B")
    env_file.write_text("not a setting\n")
    with pytest.raises(ImproperlyConfigured, match=r"\.env:1: expected KEY=VALUE"):
        load_env_file(env_file)


@pytest.mark.parametrize("rate", ["600/minute", "10/s", "5/hour", "2/days", "1/sec", "30/min"])
def test_it_reads_api_rates_the_way_the_throttle_does(monkeypatch, rate):
    monkeypatch.setenv("HS_T_RATE", rate)
    assert env_rate("HS_T_RATE", "600/minute") == rate


def test_url_parts_unquotes_credentials_and_names_the_variable_on_raw_reserved_characters():
    parts = url_parts("HS_T_URL", "mqtt://home%40sec:p%23ss%2Fw@broker.local:1883")
    assert (parts.scheme, parts.username, parts.password, parts.host, parts.port) == (
        "mqtt",
        "home@sec",
        "p#ss/w",
        "broker.local",
        1883,
    )
    with pytest.raises(ImproperlyConfigured, match=r"HS_T_URL: .* percent-encoded.*# as %23"):
        url_parts("HS_T_URL", "mqtt://homesec:p#ss@broker.local:1883")
    with pytest.raises(ImproperlyConfigured, match="HS_T_URL: the port is not a number"):
        url_parts("HS_T_URL", "mqtt://broker.local:x")
