"""Azurite over https (fixture ``azurite_https``, shared by the session: tests/conftest.py)."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from tests.support.azurite import Azurite
from tests.support.relay import stop_listener
from tests.support.tls import tls_material
from tests.support.tokens import FakeTokenCredential


def test_azurite_over_https_accepts_a_bearer_token(azurite_https: Azurite) -> None:
    credential = FakeTokenCredential()
    service = BlobServiceClient(
        azurite_https.blob_endpoint, credential=credential, **azurite_https.blob_client_kwargs()
    )
    container = service.create_container("tokens")
    container.upload_blob("x.txt", b"over tls")
    assert container.download_blob("x.txt").readall() == b"over tls"
    assert credential.scopes[0] == "https://storage.azure.com/.default"


def test_azurite_over_https_still_takes_the_dev_key(azurite_https: Azurite) -> None:
    service = BlobServiceClient.from_connection_string(
        azurite_https.connection_string, **azurite_https.blob_client_kwargs()
    )
    service.create_container("keyed").upload_blob("y.txt", b"key")
    assert service.get_container_client("keyed").download_blob("y.txt").readall() == b"key"


def test_fresh_material_gives_a_server_that_clients_trusting_the_ca_accept(
    tmp_path: Path,
) -> None:
    # The suite's own material is cached across runs: this makes (and checks) a new set.
    material = tls_material(tmp_path)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(material.cert, material.key)
    client_side = ssl.create_default_context(cafile=str(material.ca_bundle))
    hosts = ("127.0.0.1", "localhost")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(len(hosts))

        def serve() -> None:
            for _ in hosts:
                connection, _ = listener.accept()
                with server_side.wrap_socket(connection, server_side=True) as tls:
                    tls.sendall(b"hello")

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        try:
            for host in hosts:
                with (
                    socket.create_connection(listener.getsockname(), timeout=10) as raw,
                    client_side.wrap_socket(raw, server_hostname=host) as tls,
                ):
                    assert tls.recv(5) == b"hello", host
        finally:  # never leave `serve` blocked in accept on a number given back
            stop_listener(listener, server)
