"""daphne terminating TLS itself: wss:// with a certificate generated here, trusted by the client
and nobody else."""

import datetime
import ipaddress
import json
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect

from ..live import free_port, next_frame, start_daphne, stop_daphne

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def self_signed(directory) -> tuple:
    """A key and a certificate for 127.0.0.1 (IP SAN), valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / "key.pem", directory / "cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@pytest.fixture
def tls_daphne(tmp_path, django_db_setup):
    key, cert = self_signed(tmp_path)
    port = free_port()
    endpoint = f"ssl:port={port}:interface=127.0.0.1:privateKey={key}:certKey={cert}"
    server = start_daphne(tmp_path, args=["-e", endpoint])
    yield f"wss://127.0.0.1:{port}", cert
    stop_daphne(server)


async def test_wss_broadcast_through_daphne_tls(tls_daphne, tokens):
    url, cert = tls_daphne
    trusted = ssl.create_default_context(cafile=str(cert))
    async with (
        connect(f"{url}/ws/rooms/lobby/?token={tokens[0]}", ssl=trusted) as on_a,
        connect(f"{url}/ws/rooms/lobby/?token={tokens[1]}", ssl=trusted) as on_b,
    ):
        await next_frame(on_a, "room.joined")
        await next_frame(on_b, "room.joined")
        await on_b.send(json.dumps({"type": "message.send", "body": "over TLS"}))
        frame = await next_frame(on_a)
        assert (frame["author"], frame["body"]) == ("bob", "over TLS")


async def test_wss_refused_by_a_client_that_does_not_trust_the_certificate(tls_daphne):
    url, _ = tls_daphne
    with pytest.raises(ssl.SSLCertVerificationError):
        async with connect(f"{url}/ws/rooms/lobby/", ssl=ssl.create_default_context()):
            pass
