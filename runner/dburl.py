"""Database URLs as users write them, turned into the drivers this project installs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

# `postgresql://` means psycopg2 to SQLAlchemy; the extras install these drivers instead.
DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "mssql": "mssql+pymssql",
}
EXTRAS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql", "mssql": "mssql"}


def unwritten_sqlite(location: object) -> bool:
    """Whether a project's `state` names a SQLite file that does not exist yet (so there is nothing to
    read, and no store need even be opened)."""
    return isinstance(location, str) and "://" not in location and not Path(location).is_file()


def engine_url(url: str) -> URL:
    """The SQLAlchemy URL of `url`, with the project's driver when none is named."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    driver = DEFAULT_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed
