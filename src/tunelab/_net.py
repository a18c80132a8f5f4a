"""Listening sockets for tunelab's servers (``serve`` and ``ui``): loopback checks and binding with a clear
error. Standard library only."""

from __future__ import annotations

import ipaddress
import socket

from tunelab.errors import TunelabError

__all__ = ["bind_socket", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int, backlog: int = 128) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 where the host has a colon; port 0 picks a free one),
    inheritable so a server process can hand it on.

    Raises:
        TunelabError: the address cannot be bound (in use, not this machine's, no permission).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise TunelabError(f"cannot listen on {host}:{port}: {e}") from e
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock
