"""TLS to the management node: the one place that decides it, for the httpx client's
connections and the backup download's (`bot.pexip.download`) alike."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.config import PexipSettings

log = logging.getLogger(__name__)


def context(settings: PexipSettings) -> ssl.SSLContext:
    """Verification on by default (the trust store httpx uses: certifi, or SSL_CERT_FILE /
    SSL_CERT_DIR); PEXIP_CA_BUNDLE: that CA instead; off only when explicitly asked. The
    hostname is checked whenever verification is on."""
    if not settings.verify_tls:  # warned at every start (`bot.config.warn_about_transport`)
        return httpx.create_ssl_context(verify=False)
    if settings.ca_bundle is not None:
        return ssl.create_default_context(cafile=str(settings.ca_bundle))
    return httpx.create_ssl_context()


def certificate_names(certificate: Mapping[str, Any]) -> list[str]:
    """The DNS names and addresses a certificate (`ssl.getpeercert()`) is for; its common
    name when it lists none."""
    names = [
        str(value)
        for kind, value in certificate.get("subjectAltName", ())
        if kind in ("DNS", "IP Address")
    ]
    if not names:
        names = [
            str(value)
            for rdn in certificate.get("subject", ())
            for key, value in rdn
            if key == "commonName"
        ]
    return names


async def names_on_certificate(settings: PexipSettings) -> list[str]:
    """The names on the node's certificate, after a name mismatch: one more handshake that
    checks the chain but not the name, and sends nothing. Empty if that fails too."""
    target = urlsplit(settings.manager_url)
    checking_the_chain_only = context(settings)
    checking_the_chain_only.check_hostname = False
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(
                target.hostname or "", target.port or 443, ssl=checking_the_chain_only
            ),
            settings.timeout,
        )
    except (OSError, TimeoutError) as exc:
        log.info("reading the node's certificate names failed: %s", exc)
        return []
    try:
        certificate = writer.get_extra_info("peercert") or {}
    finally:
        writer.close()
    return certificate_names(certificate)
