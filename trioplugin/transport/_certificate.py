"""A peer's certificate as plain fields, read from what :mod:`ssl` decodes (no other dependency).

:meth:`ssl.SSLSocket.getpeercert` gives a dict of nested tuples (the subject
as a tuple of RDNs, each a tuple of (name, value) pairs; the subjectAltName
as (type, value) pairs; dates as OpenSSL's text). :class:`PeerCertificate`
holds the same facts flat and typed, so an auth layer reads
``certificate.common_name`` or ``certificate.uri_names`` instead of walking
tuples.
"""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, final

# RFC 4514 section 3: the attribute types with a string form; others keep OpenSSL's name.
_RFC4514_NAMES: Final[Mapping[str, str]] = {
    "commonName": "CN",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}
_ESCAPED: Final = frozenset('"+,;<>\\')


@final
@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """A verified peer certificate: its subject, issuer, names, validity and fingerprint.

    Read it from :attr:`~trioplugin.transport.TLSInfo.certificate`
    (``ctx.peer.tls.certificate`` in a handler): it is there only when the
    peer's certificate was verified against the configured CAs. It is built
    from the standard library's view of the certificate (see
    :meth:`from_ssl`); values are as OpenSSL decodes them.
    """

    subject: tuple[tuple[str, str], ...]
    """The subject's attributes as (name, value) pairs, in the certificate's order
    (least specific first), e.g. ``(("countryName", "US"), ("commonName", "alice"))``.
    Names are OpenSSL's long names."""
    issuer: tuple[tuple[str, str], ...]
    """The issuer's attributes, as :attr:`subject` has them."""
    common_name: str | None
    """The subject's last (most specific) ``commonName``, or None if it has none."""
    dns_names: tuple[str, ...]
    """The subjectAltName's DNS names, in order."""
    uri_names: tuple[str, ...]
    """The subjectAltName's URIs (a SPIFFE ID such as ``spiffe://example.org/host``)."""
    email_names: tuple[str, ...]
    """The subjectAltName's email addresses (rfc822Name)."""
    ip_addresses: tuple[str, ...]
    """The subjectAltName's IP addresses, written as :mod:`ipaddress` writes them
    (``"127.0.0.1"``, ``"::1"``)."""
    serial_number: str
    """The serial number in hexadecimal, as OpenSSL writes it (upper case)."""
    not_before: datetime
    """The start of the validity period (timezone-aware, UTC)."""
    not_after: datetime
    """The end of the validity period (timezone-aware, UTC)."""
    sha256_fingerprint: str
    """The SHA-256 digest of the DER encoding, in lower-case hex (``""`` without the DER)."""

    @property
    def subject_text(self) -> str:
        """The subject as an RFC 4514 string, most specific first: ``"CN=alice,O=Example"``.

        The attribute types RFC 4514 names (CN, L, ST, O, OU, C, STREET, DC,
        UID) are written so; others keep OpenSSL's name (``emailAddress``).
        Each attribute is written as an RDN of its own.
        """
        return _rfc4514(self.subject)

    @property
    def issuer_text(self) -> str:
        """The issuer as an RFC 4514 string, as :attr:`subject_text` has it."""
        return _rfc4514(self.issuer)

    @classmethod
    def from_ssl(cls, decoded: Mapping[str, Any], der: bytes | None) -> PeerCertificate:
        """Build it from :meth:`ssl.SSLSocket.getpeercert`'s dict and the DER bytes.

        ``decoded`` is what ``getpeercert()`` returns for a verified
        certificate; ``der`` what ``getpeercert(binary_form=True)`` returns
        (None leaves :attr:`sha256_fingerprint` empty).

        Raises:
            ValueError: ``decoded`` lacks a field every decoded certificate has
                (``subject``, ``issuer``, ``serialNumber``, ``notBefore``, ``notAfter``),
                or holds a date in another form.
        """
        try:
            subject = _attributes(decoded["subject"])
            issuer = _attributes(decoded["issuer"])
            serial_number = str(decoded["serialNumber"])
            not_before = _time(decoded["notBefore"])
            not_after = _time(decoded["notAfter"])
        except KeyError as exc:
            raise ValueError(f"not a decoded certificate: it has no {exc.args[0]!r}") from None
        names: dict[str, list[str]] = {"DNS": [], "URI": [], "email": [], "IP Address": []}
        for kind, value in decoded.get("subjectAltName", ()):
            if kind in names and isinstance(value, str):
                names[kind].append(value)
        common_names = [value for name, value in subject if name == "commonName"]
        return cls(
            subject=subject,
            issuer=issuer,
            common_name=common_names[-1] if common_names else None,
            dns_names=tuple(names["DNS"]),
            uri_names=tuple(names["URI"]),
            email_names=tuple(names["email"]),
            ip_addresses=tuple(_ip(value) for value in names["IP Address"]),
            serial_number=serial_number,
            not_before=not_before,
            not_after=not_after,
            sha256_fingerprint=hashlib.sha256(der).hexdigest() if der else "",
        )


def _attributes(rdns: Iterable[Iterable[tuple[str, str]]]) -> tuple[tuple[str, str], ...]:
    """The RDNs' (name, value) pairs, flattened in order (a multi-valued RDN gives several)."""
    return tuple((str(name), str(value)) for rdn in rdns for name, value in rdn)


def _time(text: str) -> datetime:
    """OpenSSL's ``"Jan  1 00:00:00 2030 GMT"`` as an aware UTC datetime."""
    try:
        seconds = ssl.cert_time_to_seconds(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a certificate time: {text!r}") from exc
    return datetime.fromtimestamp(seconds, tz=UTC)


def _ip(text: str) -> str:
    """An address as :mod:`ipaddress` writes it (OpenSSL writes IPv6 in full, upper case)."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return text


def _rfc4514(attributes: tuple[tuple[str, str], ...]) -> str:
    return ",".join(
        f"{_RFC4514_NAMES.get(name, name)}={_escape(value)}" for name, value in reversed(attributes)
    )


def _escape(value: str) -> str:
    """A value escaped as RFC 4514 section 2.4 asks."""
    out = []
    for index, char in enumerate(value):
        if char in _ESCAPED:
            out.append("\\" + char)
        elif char == "\x00":
            out.append("\\00")
        elif (char == " " and index in (0, len(value) - 1)) or (char == "#" and index == 0):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)
