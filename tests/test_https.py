"""HTTPS: a server started with certfile/keyfile serves the bridge over wss://.

pytest-jupyter's server is plain HTTP, so this module runs one real
``jupyter server`` subprocess with a self-signed certificate made here (for
127.0.0.1), and trusts exactly that certificate on the client side.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from tests.helpers.bridge_client import (
    KERNEL_SUBPROTOCOL,
    BridgeClient,
    KernelChannel,
    connect,
    ws_url,
)
from tests.helpers.servers import Server, running

x509 = pytest.importorskip("cryptography.x509", reason="needs cryptography (test extra)")


def make_self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost and its key (PEM files)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    keyfile.chmod(0o600)
    return certfile, keyfile


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    tmp = tmp_path_factory.mktemp("https")
    certfile, keyfile = make_self_signed(tmp)
    with running(tmp, certfile=certfile, keyfile=keyfile) as server:
        yield server, certfile


def url_of(server: Server, endpoint: str = "http_over_websocket", **kwargs: Any) -> str:
    kwargs.setdefault("token", server.token)
    return ws_url(server.port, server.base_url, endpoint, scheme="wss", **kwargs)


@pytest.fixture
def open_wss(tls_server: tuple[Server, Path], sockets: list[WebSocketClientConnection]) -> Any:
    """Opens a wss:// socket that trusts only the test's certificate; closed after the test."""
    _, certfile = tls_server

    async def _open(url: str, **kwargs: Any) -> WebSocketClientConnection:
        ws = await connect(url, ca_certs=str(certfile), **kwargs)
        sockets.append(ws)
        return ws

    return _open


async def test_auth_url_is_https_and_requests_work(
    tls_server: tuple[Server, Path], open_wss: Any
) -> None:
    server, _ = tls_server
    url = url_of(server, params={"min_version": "0.0.7"})
    assert f"https%3A%2F%2F127.0.0.1%3A{server.port}%2F%3Ftoken%3D" in url
    client = BridgeClient(await open_wss(url))
    status, specs = await client.wait(
        client.send("GET", "/api/status"), client.send("GET", "/api/kernelspecs")
    )
    assert status.status == 200 and "started" in status.json()
    assert specs.status == 200 and "python3" in specs.json()["kernelspecs"]


async def test_http_auth_url_refused_on_https_server(
    tls_server: tuple[Server, Path], open_wss: Any
) -> None:
    """The auth URL must have the handshake's scheme: http:// names another server."""
    server, _ = tls_server
    url = url_of(
        server,
        token=None,
        params={
            "jupyter_http_over_ws_auth_url": f"http://127.0.0.1:{server.port}/?token={server.token}",
        },
    )
    with pytest.raises(HTTPClientError) as e:
        await open_wss(url)
    assert e.value.code == 403
    assert "names another server" in server.log_text()


async def test_kernel_execute_through_wss(tls_server: tuple[Server, Path], open_wss: Any) -> None:
    server, _ = tls_server
    client = BridgeClient(await open_wss(url_of(server)))
    body = {"path": "tls.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    created = await client.request("POST", "/api/sessions", body=json.dumps(body))
    assert created.status == 201, created.body
    session = created.json()
    channels = f"http_over_websocket/proxied_ws/api/kernels/{session['kernel']['id']}/channels"
    ws = await open_wss(
        url_of(server, channels, params={"session_id": session["id"]}),
        subprotocols=[KERNEL_SUBPROTOCOL],
    )
    assert ws.selected_subprotocol == KERNEL_SUBPROTOCOL
    stdout, reply, _ = await KernelChannel(ws).execute("print(6*7)")
    assert stdout == "42\n" and reply["status"] == "ok"
    ws.close()
    deleted = await client.request("DELETE", f"/api/sessions/{session['id']}")
    assert deleted.status == 204


async def test_relayed_socket_through_wss(tls_server: tuple[Server, Path], open_wss: Any) -> None:
    """A non-kernel socket is relayed to the server's own wss:// endpoint."""
    server, _ = tls_server
    events = await open_wss(url_of(server, "http_over_websocket/proxied_ws/api/events/subscribe"))
    client = BridgeClient(await open_wss(url_of(server)))
    saved = await client.request(
        "PUT",
        "/api/contents/relayed.txt",
        body=json.dumps({"type": "file", "format": "text", "content": "over tls"}),
    )
    assert saved.status == 201, saved.body
    actions = []
    while "save" not in actions:  # a save emits "get" (existence check) and "save"
        message = await events.read_message()
        assert isinstance(message, str), message  # None would mean the relay closed
        event = json.loads(message)
        if event.get("path") == "relayed.txt":
            actions.append(event["action"])
    events.close()
