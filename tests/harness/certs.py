"""A private certificate authority for the tests' TLS servers, made with `cryptography` (in the
test venv): a CA, a server certificate for 127.0.0.1 and localhost signed by it, and a client
certificate (for mutual TLS) signed by it. Every file is PEM; keys are unencrypted P-256.

    certs.py --out DIR

writes DIR/ca.pem, DIR/server.pem, DIR/server.key, DIR/client.pem, DIR/client.key and prints
{"ca": ..., "server_cert": ..., "server_key": ..., "client_cert": ..., "client_key": ...}
with the absolute paths.
"""

import argparse
import datetime
import ipaddress
import json
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def name(common):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def write_key(path, key):
    with open(path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def write_cert(path, cert):
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def key_usage(ca):
    """A CA signs certificates; a leaf signs and agrees keys (ECDHE)."""
    flags = dict.fromkeys(
        ["content_commitment", "key_encipherment", "data_encipherment", "encipher_only", "decipher_only"],
        False,
    )
    return x509.KeyUsage(
        digital_signature=True, key_agreement=not ca, key_cert_sign=ca, crl_sign=ca, **flags
    )


def builder(subject, issuer, public_key):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
    )


def leaf(ca_key, ca_name, common, usage, san):
    key = ec.generate_private_key(ec.SECP256R1())
    b = builder(name(common), ca_name, key.public_key())
    b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    b = b.add_extension(
        key_usage(ca=False),
        critical=True,
    )
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return key, b.sign(ca_key, hashes.SHA256())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    out = os.path.abspath(p.parse_args().out)
    os.makedirs(out, exist_ok=True)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("weir tests CA")
    ca = (
        builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            key_usage(ca=True),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    server_key, server = leaf(ca_key, ca_name, "127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH, san)
    client_key, client = leaf(ca_key, ca_name, "weir", ExtendedKeyUsageOID.CLIENT_AUTH, None)

    paths = {
        "ca": os.path.join(out, "ca.pem"),
        "server_cert": os.path.join(out, "server.pem"),
        "server_key": os.path.join(out, "server.key"),
        "client_cert": os.path.join(out, "client.pem"),
        "client_key": os.path.join(out, "client.key"),
    }
    write_cert(paths["ca"], ca)
    write_cert(paths["server_cert"], server)
    write_key(paths["server_key"], server_key)
    write_cert(paths["client_cert"], client)
    write_key(paths["client_key"], client_key)
    print(json.dumps(paths))


if __name__ == "__main__":
    main()
