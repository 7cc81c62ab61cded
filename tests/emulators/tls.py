"""TLS for the loopback servers that speak it (the SMTP server's STARTTLS, ntfy over ``ntfys://``): a
certificate authority made at test time and a server certificate it signed for 127.0.0.1 and localhost,
so clients verify the server as they would a real one (no ``verify=False``).

Made with the ``openssl`` command line: neither ``cryptography`` nor ``trustme`` is among the project's
dependencies, and a test certificate is not worth adding one. Keys are P-256, valid for two days.
"""

from __future__ import annotations

import secrets
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

_CA_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca
[dn]
CN = sevflow loopback test CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

_SERVER_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
"""

_SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
"""


@dataclass(frozen=True)
class LoopbackTls:
    """The files of one certificate authority and the server certificate it signed."""

    ca_cert: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Verifies the server against this authority only, hostname included."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


def make_loopback_tls(directory: Path) -> LoopbackTls:
    """Write ``ca.pem``, ``server.pem`` and ``server.key`` into ``directory`` (which must exist)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is missing: the loopback TLS certificates are made with it")
    (directory / "ca.cnf").write_text(_CA_CONFIG)
    (directory / "server.cnf").write_text(_SERVER_CONFIG)
    (directory / "server.ext").write_text(_SERVER_EXTENSIONS)
    new_key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    for command in (
        f"req -x509 -days 2 -config ca.cnf {new_key} -keyout ca.key -out ca.pem",
        f"req -new -config server.cnf {new_key} -keyout server.key -out server.csr",
        f"x509 -req -days 2 -in server.csr -CA ca.pem -CAkey ca.key -set_serial 0x{secrets.token_hex(8)} "
        "-extfile server.ext -out server.pem",
    ):
        args = command.split()  # relative names, run in `directory`: no quoting of its path needed
        result = subprocess.run([openssl, *args], cwd=directory, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")
    return LoopbackTls(directory / "ca.pem", directory / "server.pem", directory / "server.key")
