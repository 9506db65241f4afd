"""A port is taken only by a live listener, not by connections lingering after a server closed them."""

from __future__ import annotations

import socket

from events.embedded import free_port, port_is_free


def test_a_listening_port_is_taken_and_a_closed_servers_lingering_connections_are_not() -> None:
    port = free_port()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    assert not port_is_free(port)
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server closes first (an idle keep-alive): TIME_WAIT stays on its port
    client.recv(1)
    client.close()
    server.close()
    assert port_is_free(port)  # the next server can bind, as uvicorn would
