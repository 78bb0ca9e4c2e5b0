"""The Kamailio configuration Trunkline renders: a registrar and authenticating proxy that
reads the SIP credentials directory (`telephony.models.SipSubscriber`) straight from
Trunkline's database. `docs/telephony.md` describes the layout it fits in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from trunkline.telephony.files import write_atomic

TEMPLATE = Path(__file__).parent / "templates" / "telephony" / "kamailio.cfg"
# Kamailio splits its database URLs on these without decoding percent escapes.
_URL_UNSAFE = set("@:/?#")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")


class KamailioConfigError(ValueError):
    pass


@dataclass(frozen=True)
class KamailioDatabase:
    module: str  # the Kamailio driver module
    url: str  # contains the password for PostgreSQL: the file it goes in is private


def database_for_kamailio(settings_dict: dict | None = None) -> KamailioDatabase:
    """Where Kamailio finds Trunkline's database (the connection in use by default, which
    under the test runner is the test database)."""
    database = settings_dict or connection.settings_dict
    engine = database["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        name = str(database["NAME"])
        if name == ":memory:" or name.startswith("file:") or "mode=memory" in name:
            raise KamailioConfigError("an in-memory SQLite database cannot be shared with Kamailio")
        return KamailioDatabase("db_sqlite.so", "sqlite:///" + str(Path(name).resolve()))
    if engine.startswith("django.db.backends.postgresql"):
        parts = {
            key: str(database.get(key) or "")
            for key in ("USER", "PASSWORD", "HOST", "PORT", "NAME")
        }
        for key in ("USER", "PASSWORD", "NAME"):
            if _URL_UNSAFE & set(parts[key]):
                raise KamailioConfigError(
                    f"the database {key.lower()} has a character Kamailio's URLs cannot carry"
                )
        host = parts["HOST"] or "127.0.0.1"
        if host.startswith("/"):
            raise KamailioConfigError("Kamailio reaches PostgreSQL over TCP; set a host")
        credentials = parts["USER"] + (":" + parts["PASSWORD"] if parts["PASSWORD"] else "")
        port = ":" + parts["PORT"] if parts["PORT"] else ""
        url = f"postgres://{credentials}@{host}{port}/{quote(parts['NAME'])}"
        return KamailioDatabase("db_postgres.so", url)
    raise KamailioConfigError(f"Kamailio cannot read a {engine} database")


def kamailio_config(
    *,
    listen: str = "udp:0.0.0.0:5060",
    database: KamailioDatabase | None = None,
    sip_domain: str | None = None,
    children: int = 4,
) -> str:
    """kamailio.cfg's text for this platform."""
    database = database or database_for_kamailio()
    sip_domain = (sip_domain or settings.TRUNKLINE_SIP_DOMAIN).lower()
    if not _DOMAIN.fullmatch(sip_domain):
        raise KamailioConfigError(f"{sip_domain!r} is not a domain name")
    if not listen.startswith("udp:") or any(char in listen for char in ' "\n'):
        raise KamailioConfigError("listen is udp:ADDRESS:PORT")
    values = {
        "%%LISTEN%%": listen,
        "%%CHILDREN%%": str(int(children)),
        "%%DB_MODULE%%": database.module,
        "%%DB_URL%%": database.url,
        "%%SIP_DOMAIN%%": sip_domain,
        # A regular expression matching the domain literally: `[.]` needs no escaping.
        "%%SIP_DOMAIN_RE%%": sip_domain.replace(".", "[.]"),
    }
    text = TEMPLATE.read_text()
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def kamailio_config_write(out_dir: Path, text: str) -> Path:
    """Write kamailio.cfg atomically, readable by its owner only (it may hold the database
    password). Returns its path."""
    target = out_dir / "kamailio.cfg"
    write_atomic(target, text, mode=0o600)
    return target
