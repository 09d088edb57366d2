"""Throw-away PostgreSQL clusters for tests.

Why: Alianza's tests need a real PostgreSQL (SQLite behaves differently on
types, locking and constraints), but no server runs on a fresh developer or CI
machine. ``start_cluster`` therefore builds a private cluster from the Debian
server binaries (``initdb`` and ``pg_ctl``), listening only on 127.0.0.1 on a
free port, with durability switched off for speed, and ``stop`` throws it away.
``scripts/system-deps.sh`` installs the binaries when they are missing.

Using an existing server instead: set ``ALIANZA_TEST_POSTGRES_URL`` to a
SQLAlchemy/libpq URL such as ``postgresql+psycopg://user:pw@host:5432/postgres``.
Then no cluster is started, ``url(name)`` points at that server, databases are
created and dropped there (the role needs CREATEDB), and ``stop`` leaves the
server running. The URL's database, if any, is used for CREATE/DROP DATABASE
(default ``postgres``).

Typical use in a ``conftest.py``::

    cluster = start_cluster(tmp_path_factory.mktemp("pg"))
    url = cluster.create_database("alianza_test")
    engine = sqlalchemy.create_engine(url)
    ...
    cluster.stop()
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Self

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL, make_url

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

__all__ = ["ENV_URL", "PostgresCluster", "find_server_binaries", "start_cluster"]

ENV_URL = "ALIANZA_TEST_POSTGRES_URL"
"""Environment variable naming an existing server to use instead of a new cluster."""

_DRIVER = "postgresql+psycopg"
_SUPERUSER = "postgres"
_PG_LIB_DIR = Path("/usr/lib/postgresql")
# A unix socket path (dir + "/.s.PGSQL.NNNNN") must fit in sun_path (108 bytes).
_MAX_SOCKET_DIR_LEN = 90
_START_ATTEMPTS = 3
_COMMAND_TIMEOUT = 120.0


class PostgresCluster:
    """A running PostgreSQL server that tests may create databases in.

    Either a private cluster owned by this object (made by ``start_cluster``),
    or an external server named by ``ALIANZA_TEST_POSTGRES_URL``; ``owned``
    tells which. ``stop`` is idempotent and only tears down an owned cluster.
    """

    def __init__(
        self,
        *,
        admin_url: URL,
        owned: bool,
        pg_ctl: Path | None = None,
        data_dir: Path | None = None,
        cleanup_dirs: Sequence[Path] = (),
        run_as: str | None = None,
    ) -> None:
        """Wrap a server reachable at ``admin_url`` (its maintenance database)."""
        self._admin_url = admin_url
        self.owned = owned
        self._pg_ctl = pg_ctl
        self.data_dir = data_dir
        self._cleanup_dirs = tuple(cleanup_dirs)
        self._run_as = run_as
        self._stopped = False

    @classmethod
    def from_url(cls, url: str | URL) -> PostgresCluster:
        """Use an existing server; the URL's database (default ``postgres``) is used for admin."""
        parsed = make_url(url) if isinstance(url, str) else url
        if parsed.get_backend_name() != "postgresql":
            msg = f"{ENV_URL} must be a postgresql URL, got backend {parsed.get_backend_name()!r}"
            raise RuntimeError(msg)
        parsed = parsed.set(drivername=_DRIVER, database=parsed.database or _SUPERUSER)
        return cls(admin_url=parsed, owned=False)

    @property
    def host(self) -> str:
        """Host name or address of the server."""
        return self._admin_url.host or "localhost"

    @property
    def port(self) -> int:
        """TCP port of the server."""
        return self._admin_url.port or 5432

    def url(self, dbname: str) -> URL:
        """SQLAlchemy URL (psycopg 3 driver) for database ``dbname`` on this server.

        Note: ``str()`` of a SQLAlchemy URL masks any password; use
        ``render_as_string(hide_password=False)`` when a plain string is needed.
        """
        return self._admin_url.set(database=dbname)

    def create_database(self, name: str, template: str = "template0") -> URL:
        """Create database ``name`` (UTF8) as a copy of ``template`` and return its URL.

        Copying a migrated template is how the suite gives every test a fresh schema cheaply.
        """
        self._admin_execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} ENCODING 'UTF8'").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its leftover sessions."""
        self._admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def stop(self) -> None:
        """Stop an owned cluster at once and delete its files; no-op for an external server.

        ``-m immediate`` is used because the data is disposable: there is
        nothing to flush, and it never waits on clients a test left open.
        """
        if self._stopped:
            return
        self._stopped = True
        if not self.owned:
            return
        try:
            if self._pg_ctl is not None and self.data_dir is not None:
                _run(
                    [str(self._pg_ctl), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"],
                    run_as=self._run_as,
                    check=False,
                )
        finally:
            for directory in self._cleanup_dirs:
                shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> Self:
        """Allow ``with start_cluster(...) as cluster:``."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the cluster when the ``with`` block ends."""
        self.stop()

    def __repr__(self) -> str:
        """Show where the server is without revealing a password."""
        kind = "owned" if self.owned else "external"
        return f"PostgresCluster({kind}, {self.host}:{self.port}, stopped={self._stopped})"

    def _admin_execute(self, statement: sql.Composed) -> None:
        """Run one statement on the maintenance database in autocommit mode.

        CREATE/DROP DATABASE cannot run inside a transaction block, hence
        autocommit.
        """
        if self._stopped:
            msg = f"{self!r} is stopped"
            raise RuntimeError(msg)
        u = self._admin_url
        conninfo = make_conninfo(
            "",
            host=u.host,
            port=u.port,
            user=u.username,
            password=u.password,
            dbname=u.database,
            connect_timeout=10,
            # Extra URL query parameters (e.g. sslmode) are libpq options too.
            **{key: str(value) for key, value in u.query.items()},
        )
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(statement)


def start_cluster(base_dir: Path) -> PostgresCluster:
    """Start a throw-away cluster under ``base_dir`` (or use ``ALIANZA_TEST_POSTGRES_URL``).

    As root, ``initdb`` and ``pg_ctl`` refuse to run, so they run as the
    ``postgres`` system user through ``runuser``; every directory above the
    data directory must then be traversable by that user. pytest's
    ``/tmp/pytest-of-root`` is mode 0700, so when ``base_dir`` is not
    reachable the cluster goes into a fresh 0755 directory under the system
    temp dir instead. The server is stopped at interpreter exit as a safety
    net if ``stop`` was never called.

    Raises:
        RuntimeError: the server binaries or the ``postgres`` user are
            missing, or the server fails to initialise or start.
    """
    external = os.environ.get(ENV_URL, "").strip()
    if external:
        return PostgresCluster.from_url(external)

    initdb, pg_ctl = find_server_binaries()
    run_as = _SUPERUSER if os.geteuid() == 0 else None
    if run_as is not None:
        _check_run_as_possible(run_as)

    cluster_dir = _make_cluster_dir(base_dir, run_as)
    cleanup = [cluster_dir]
    try:
        data_dir = cluster_dir / "data"
        socket_dir = cluster_dir / "sock"
        if len(str(socket_dir)) > _MAX_SOCKET_DIR_LEN:
            socket_dir = Path(tempfile.mkdtemp(prefix="alianza-pgs-", dir="/tmp"))
            cleanup.append(socket_dir)
        socket_dir.mkdir(exist_ok=True)
        socket_dir.chmod(0o755)
        log_file = cluster_dir / "server.log"
        log_file.touch()
        if run_as is not None:
            for path in (cluster_dir, socket_dir, log_file):
                shutil.chown(path, user=run_as, group=None)

        _run(
            [
                str(initdb),
                "-D",
                str(data_dir),
                "-A",
                "trust",
                "-U",
                _SUPERUSER,
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            run_as=run_as,
            cwd=cluster_dir,
        )
        port = _start_server(pg_ctl, data_dir, socket_dir, log_file, run_as, cluster_dir)
    except BaseException:
        # pg_ctl -w can time out while the server is still coming up: stop it before deleting its files.
        if (cluster_dir / "data" / "postmaster.pid").exists():
            _run(
                [str(pg_ctl), "-D", str(cluster_dir / "data"), "-m", "immediate", "-w", "stop"],
                run_as=run_as,
                check=False,
                cwd=cluster_dir,
            )
        for directory in cleanup:
            shutil.rmtree(directory, ignore_errors=True)
        raise

    cluster = PostgresCluster(
        admin_url=URL.create(_DRIVER, username=_SUPERUSER, host="127.0.0.1", port=port, database="postgres"),
        owned=True,
        pg_ctl=pg_ctl,
        data_dir=data_dir,
        cleanup_dirs=cleanup,
        run_as=run_as,
    )
    atexit.register(cluster.stop)
    return cluster


def find_server_binaries() -> tuple[Path, Path]:
    """Return ``(initdb, pg_ctl)`` from one directory: PATH first, then the newest Debian version.

    Debian keeps the server binaries in ``/usr/lib/postgresql/N/bin``, which
    is not on PATH, so both places are searched. Both tools are taken from the
    same directory so that their major versions match.

    Raises:
        RuntimeError: naming what is missing (no silent skip: a missing server
            must fail the run, not hide the database tests).
    """
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates += [Path(on_path).parent, Path(on_path).resolve().parent]
    candidates += _versioned_bin_dirs()
    for directory in candidates:
        initdb, pg_ctl = directory / "initdb", directory / "pg_ctl"
        if _is_executable(initdb) and _is_executable(pg_ctl):
            return initdb, pg_ctl
    searched = ", ".join(str(d) for d in candidates) or "nothing found"
    msg = (
        "PostgreSQL server binaries not found: need initdb and pg_ctl on PATH or in "
        f"{_PG_LIB_DIR}/*/bin (searched: {searched}). Run scripts/system-deps.sh "
        f"(installs Debian's 'postgresql'), or set {ENV_URL} to use an existing server."
    )
    raise RuntimeError(msg)


def _versioned_bin_dirs() -> list[Path]:
    """``/usr/lib/postgresql/*/bin``, highest major version first."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    dirs = [p for p in _PG_LIB_DIR.glob("*/bin") if re.fullmatch(r"[\d.]+", p.parent.name)]
    return sorted(dirs, key=version, reverse=True)


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _check_run_as_possible(user: str) -> None:
    """Fail early, and clearly, if we cannot switch to ``user`` as root."""
    if _runuser() is None:
        msg = "running as root, but 'runuser' (util-linux) was not found to run initdb as postgres"
        raise RuntimeError(msg)
    try:
        pwd.getpwnam(user)
    except KeyError:
        msg = (
            f"running as root, but there is no '{user}' system user to run initdb as "
            "(initdb refuses root). Run scripts/system-deps.sh, which installs Debian's "
            "'postgresql' and with it that user."
        )
        raise RuntimeError(msg) from None


def _runuser() -> str | None:
    return shutil.which("runuser") or next(
        (p for p in ("/usr/sbin/runuser", "/sbin/runuser") if _is_executable(Path(p))), None
    )


def _make_cluster_dir(base_dir: Path, run_as: str | None) -> Path:
    """Make a fresh 0755 directory for the cluster that ``run_as`` can traverse."""
    base_dir.mkdir(parents=True, exist_ok=True)
    cluster_dir = Path(tempfile.mkdtemp(prefix="alianza-pg-", dir=base_dir))
    cluster_dir.chmod(0o755)
    if run_as is None or _can_traverse(run_as, cluster_dir):
        return cluster_dir
    shutil.rmtree(cluster_dir, ignore_errors=True)
    # e.g. /tmp/pytest-of-root is 0700: fall back to the world-traversable temp dir.
    cluster_dir = Path(tempfile.mkdtemp(prefix="alianza-pg-"))
    cluster_dir.chmod(0o755)
    if not _can_traverse(run_as, cluster_dir):
        shutil.rmtree(cluster_dir, ignore_errors=True)
        msg = (
            f"user '{run_as}' cannot reach {base_dir} nor {cluster_dir.parent}; "
            "cannot place a PostgreSQL data directory it can own"
        )
        raise RuntimeError(msg)
    return cluster_dir


def _can_traverse(user: str, directory: Path) -> bool:
    """Ask the system (as ``user``) rather than re-implementing permission rules."""
    result = _run(["test", "-x", str(directory)], run_as=user, check=False, cwd=Path("/"))
    return result.returncode == 0


def _free_port() -> int:
    """Pick a currently free loopback TCP port (may race; the caller retries on failure)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_server(
    pg_ctl: Path,
    data_dir: Path,
    socket_dir: Path,
    log_file: Path,
    run_as: str | None,
    cwd: Path,
) -> int:
    """Start the server on a free port, retrying if another process grabbed the port.

    Server output goes to ``log_file``: without ``-l`` the postmaster would
    inherit our stdout pipe and the captured ``pg_ctl`` call would never end.
    """
    last_error: RuntimeError | None = None
    for _ in range(_START_ATTEMPTS):
        port = _free_port()
        options = (
            f"-k '{socket_dir}' -p {port} -c listen_addresses='127.0.0.1' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        try:
            _run(
                [str(pg_ctl), "-D", str(data_dir), "-l", str(log_file), "-o", options, "-w", "start"],
                run_as=run_as,
                cwd=cwd,
            )
        except RuntimeError as error:
            last_error = error
            continue
        return port
    log_tail = _tail(log_file)
    msg = f"PostgreSQL did not start after {_START_ATTEMPTS} attempts: {last_error}\n{log_tail}"
    raise RuntimeError(msg)


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "server log:\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no server log)"


def _run(
    command: Sequence[str],
    *,
    run_as: str | None,
    check: bool = True,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command (as ``run_as`` via runuser when given), raising RuntimeError with its output."""
    full = list(command)
    if run_as is not None:
        runuser = _runuser()
        if runuser is None:
            msg = "'runuser' not found"
            raise RuntimeError(msg)
        full = [runuser, "-u", run_as, "--", *full]
    result = subprocess.run(
        full,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_COMMAND_TIMEOUT,
        check=False,
    )
    if check and result.returncode != 0:
        msg = (
            f"command failed (exit {result.returncode}): {' '.join(full)}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        raise RuntimeError(msg)
    return result
