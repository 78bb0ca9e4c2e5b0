"""`trunkline render-kamailio`: the configuration points at Trunkline's database and is
private to its owner."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import trunkline
from tests.telephony.sip import kamailio_binary
from trunkline.telephony.kamailio import (
    KamailioConfigError,
    database_for_kamailio,
    kamailio_config,
)

TRUNKLINE = str(Path(sys.executable).with_name("trunkline"))


def test_a_sqlite_database_is_read_by_its_absolute_path(tmp_path):
    database = database_for_kamailio(
        {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "t.sqlite3")}
    )
    assert database.module == "db_sqlite.so"
    assert database.url == f"sqlite:///{tmp_path}/t.sqlite3"


def test_a_postgresql_database_becomes_a_kamailio_url():
    database = database_for_kamailio(
        {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "trunkline",
            "USER": "tl",
            "PASSWORD": "pw",
            "HOST": "db.internal",
            "PORT": 5432,
        }
    )
    assert database.module == "db_postgres.so"
    assert database.url == "postgres://tl:pw@db.internal:5432/trunkline"


@pytest.mark.parametrize(
    "settings_dict",
    [
        {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        {"ENGINE": "django.db.backends.sqlite3", "NAME": "file:memorydb?mode=memory&cache=shared"},
        {"ENGINE": "django.db.backends.postgresql", "NAME": "t", "USER": "u", "PASSWORD": "p@ss"},
        {"ENGINE": "django.db.backends.mysql", "NAME": "t"},
    ],
)
def test_databases_kamailio_cannot_reach_are_refused(settings_dict):
    with pytest.raises(KamailioConfigError):
        database_for_kamailio(settings_dict)


def test_the_config_names_the_tenant_domains_and_the_directory(tmp_path):
    database = database_for_kamailio(
        {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "t.sqlite3")}
    )
    text = kamailio_config(
        listen="udp:127.0.0.1:5070", database=database, sip_domain="Voice.Example.NET"
    )
    assert "%%" not in text
    assert "listen=udp:127.0.0.1:5070" in text
    assert "[.]voice[.]example[.]net$" in text
    assert f'"sqlite:///{tmp_path}/t.sqlite3"' in text
    assert 'modparam("usrloc", "db_mode", 0)' in text


@pytest.mark.parametrize(
    "arguments",
    [{"listen": "tcp:0.0.0.0:5060"}, {"listen": 'udp:1.2.3.4:5060"'}, {"sip_domain": "bad domain"}],
)
def test_bad_options_are_refused(tmp_path, arguments):
    database = database_for_kamailio(
        {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "t.sqlite3")}
    )
    with pytest.raises(KamailioConfigError):
        kamailio_config(database=database, **arguments)


def test_the_command_writes_a_private_config_kamailio_accepts(tmp_path):
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "TRUNKLINE_DB", "TRUNKLINE_VAR_DIR"}
    }
    env.update(TRUNKLINE_DB=str(tmp_path / "t.sqlite3"), TRUNKLINE_VAR_DIR=str(tmp_path / "var"))
    # The command runs this checkout's code, whatever the installed copy points at.
    source = str(Path(trunkline.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))

    def run(*args):
        return subprocess.run(
            [TRUNKLINE, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )

    assert run("migrate", "--quiet").returncode == 0
    result = run(
        "render-kamailio", "--out", str(tmp_path / "etc"), "--listen", "udp:127.0.0.1:5071"
    )
    assert result.returncode == 0, result.stderr
    path = Path(json.loads(result.stdout)["path"])
    assert path == tmp_path / "etc" / "kamailio.cfg"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"sqlite:///{tmp_path}/t.sqlite3" in path.read_text()
    if kamailio_binary():
        check = subprocess.run(
            [kamailio_binary(), "-c", "-f", str(path)], capture_output=True, text=True, timeout=60
        )
        assert check.returncode == 0, check.stderr

    refused = run("render-kamailio", "--out", str(tmp_path / "etc"), "--listen", "tcp:x")
    assert refused.returncode != 0 and "listen" in refused.stderr
