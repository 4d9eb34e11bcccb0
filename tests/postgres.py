"""A throw-away PostgreSQL for the tests: Debian's server binaries (scripts/test-deps.sh
installs the ``postgresql`` package), one cluster in a temporary folder on a free loopback
port for the whole test session, and a fresh database per test, copied from a template
that was migrated once (CREATE DATABASE ... TEMPLATE takes milliseconds)."""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
TEMPLATE = "tanya_template"


def server_binaries() -> Path | None:
    """The newest installed server's bin folder (with initdb and pg_ctl), if any."""
    for folder in BIN_DIRS:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    def __init__(self, binaries: Path, durable: bool = False) -> None:
        """``durable``: PostgreSQL's default fsync and commit settings (for benchmarks that
        compare it with SQLite); else none of them, which makes each test's database cheap."""
        self.binaries = binaries
        self.durable = durable
        self.folder = Path(tempfile.mkdtemp(prefix="tanya-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._numbers = itertools.count(1)
        # initdb refuses to run as root: the cluster then belongs to the postgres user.
        self._as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(
            str(self.binaries / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "tanya",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c max_connections=200"
        )
        if not self.durable:  # durability is not under test in the tests
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            str(self.binaries / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )
        self.admin(f"CREATE DATABASE {TEMPLATE}")
        from bot.store import Store

        Store.open(self.url(TEMPLATE)).close()

    def url(self, database: str) -> str:
        return f"postgresql://tanya@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def fresh_database(self, migrated: bool = True) -> str:
        """The URL of a new database: migrated (a copy of the template) or empty."""
        name = f"test_{next(self._numbers)}"
        self.admin(f"CREATE DATABASE {name}" + (f" TEMPLATE {TEMPLATE}" if migrated else ""))
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(
                str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"
            )
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
