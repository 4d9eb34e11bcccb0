"""The port `tanya run` serves on, bound before anything slow is loaded.

Its own module so that the parent of `tanya run --workers N`, which only binds the port
and keeps the workers, does not import the server (the whole application: seconds before
the first worker starts).
"""

from __future__ import annotations

import errno
import socket


class CannotListen(Exception):
    """The address or port cannot be used (taken by another program, not this machine's,
    or a port below 1024 without the rights): the message says what to do."""


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to the address, as aiohttp would bind it (address reuse on Unix);
    ``CannotListen`` when it cannot be, before anything slow (the model) is loaded."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listening = socket.socket(family, kind, proto)
    except OSError as exc:
        raise CannotListen(_listen_problem(exc, host, port)) from exc
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
    except OSError as exc:
        listening.close()
        raise CannotListen(_listen_problem(exc, host, port)) from exc
    return listening


def _listen_problem(exc: OSError, host: str, port: int) -> str:
    where = f"{host} port {port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {where}: another program uses that port (is Tanya already "
            "running?). Stop it, or choose another port: server.port in config.yml or --port."
        )
    if exc.errno == errno.EACCES:
        return (
            f"cannot listen on {where}: not allowed (ports below 1024 need administrator "
            "rights). Use a port above 1024 behind a reverse proxy: server.port or --port."
        )
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
        return (
            f"cannot listen on {where}: {host} is not an address of this machine (or a name "
            "for one). "
            "Set server.host in config.yml (or --host), e.g. 127.0.0.1 or 0.0.0.0."
        )
    return f"cannot listen on {where}: {exc.strerror or exc}"
