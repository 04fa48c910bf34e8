"""Who is calling: bearer JWTs checked as API Gateway's JWT authorizer checks them, and again here.

A token is taken only if its header names RS256 or ES256 and a key of the JWKS (by `kid`, or the
only key) whose type fits that algorithm; its signature verifies with that key; `iss` and `aud`
are the configured ones; `exp` is in the future (30 s of leeway for clock skew) and `sub` is set.
`alg: none`, HS256 (a public key used as an HMAC secret) and any other algorithm are refused before
any key is touched. Nothing but the `Authorization` header is trusted: the app reads no header the
gateway might have added (an `X-Forwarded-For`, a claims header).

What a token grants: its scopes (`scope`, space-separated, or `scp`, a list: the two forms API
Gateway reads) and its regions (the configured region claim: a region, a list of them, or "*" for
every region). A verified token is remembered (by its text, up to 10,000, until it expires), so its signature
is checked once per process, not once per request: a key removed from the JWKS stops new tokens
at once, not the ones already verified. `lakehouse api token` issues development tokens signed by the local key
(`dev_signing_key`, an EC P-256 key made on first use, mode 0600); on AWS the identity provider
issues them and `jwks` is its JWKS URL.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from lakehouse.errors import ConfigError

ALGORITHMS = ("RS256", "ES256")
# The key types each algorithm verifies with (a JWK's `kty`).
KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}
LEEWAY_SECONDS = 30
DEV_KEY_ID = "lakehouse-dev"
SCOPES = ("kpi:read", "enrollment:read", "freshness:read")
ALL_REGIONS = "*"


class Unauthorized(Exception):  # noqa: N818 - named after the HTTP status it becomes
    """No usable token (401): the message says why in general terms, never the token."""


class Forbidden(Exception):  # noqa: N818
    """A valid token without the scope a route needs (403)."""


@dataclass(frozen=True)
class Caller:
    """A verified token: its subject, scopes and regions (None: every region)."""

    subject: str
    scopes: frozenset[str]
    regions: frozenset[str] | None

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this token lacks the scope {scope}")

    def sees(self, region: str | None) -> bool:
        return self.regions is None or region in self.regions

    @property
    def region_scope(self) -> str:
        """A stable text of the regions, for cache keys: "*" or the sorted regions."""
        return ALL_REGIONS if self.regions is None else ",".join(sorted(self.regions))


KeyLookup = Callable[[str | None], "jwt.PyJWK"]  # a token's kid -> its key


def static_keys(jwks: dict[str, Any]) -> KeyLookup:
    """Keys from a JWKS document: by `kid`, or the only key when the token names none."""
    try:
        keys = jwt.PyJWKSet.from_dict(jwks).keys
    except jwt.PyJWTError as err:
        raise ConfigError(f"api.jwks holds no usable key: {err}") from None

    def lookup(kid: str | None) -> jwt.PyJWK:
        if kid is None and len(keys) == 1:
            return keys[0]
        for key in keys:
            if kid is not None and key.key_id == kid:
                return key
        raise Unauthorized("the token's key is not one this API trusts")

    return lookup


def remote_keys(url: str) -> KeyLookup:
    """Keys from an identity provider's JWKS URL, fetched and cached by PyJWT's client."""
    client = jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)

    def lookup(kid: str | None) -> jwt.PyJWK:
        try:
            keys = client.get_signing_keys()
        except jwt.PyJWKClientError:
            raise Unauthorized("the identity provider's keys cannot be fetched") from None
        for key in keys:
            if key.key_id == kid or (kid is None and len(keys) == 1):
                return key
        raise Unauthorized("the token's key is not one this API trusts")

    return lookup


class Verifier:
    """Checks bearer tokens (see the module docstring) and says what they grant."""

    def __init__(self, keys: KeyLookup, issuer: str, audience: str, region_claim: str,
                 cache_size: int = 10_000) -> None:
        self._keys = keys
        self.issuer = issuer
        self.audience = audience
        self.region_claim = region_claim
        # token -> (caller, expiry): a token verified once is not verified again until it expires
        # (a signature check costs more than the rest of a cached answer); bounded, oldest out first
        self._verified: OrderedDict[str, tuple[Caller, float]] = OrderedDict()
        self._cache_size = cache_size

    def verify(self, authorization: str | None) -> Caller:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("a bearer token is required")
        token = token.strip()
        if (hit := self._verified.get(token)) is not None:
            caller, expires = hit
            if time.time() < expires + LEEWAY_SECONDS:
                return caller
            del self._verified[token]
        caller, expires = self._check(token)
        self._verified[token] = (caller, expires)
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return caller

    def _check(self, token: str) -> tuple[Caller, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("the token is not a JWT") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Unauthorized("the token's algorithm is not accepted (RS256 or ES256 only)")
        kid = header.get("kid")
        key = self._keys(kid if isinstance(kid, str) else None)
        if key.key_type != KEY_TYPES[alg] or (key.algorithm_name and key.algorithm_name != alg):
            raise Unauthorized("the token's algorithm does not match its key")
        try:
            claims = jwt.decode(token, key.key, algorithms=[alg], audience=self.audience, issuer=self.issuer,
                                leeway=LEEWAY_SECONDS, options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("the token is not valid for this API") from None
        caller = Caller(str(claims["sub"]), _scopes(claims), _regions(claims.get(self.region_claim)))
        return caller, float(claims["exp"])


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    scope, scp = claims.get("scope"), claims.get("scp")
    if isinstance(scope, str):
        return frozenset(scope.split())
    if isinstance(scp, list):
        return frozenset(s for s in scp if isinstance(s, str))
    return frozenset()


def _regions(value: Any) -> frozenset[str] | None:
    """The regions a claim grants: None for every region, an empty set when the claim is absent."""
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    regions = frozenset(v for v in values if isinstance(v, str) and v)
    return None if ALL_REGIONS in regions else regions


# -- the development key and its tokens

def dev_key(path: str) -> ec.EllipticCurvePrivateKey:
    """The local signing key at `path` (PEM), made on first use with mode 0600."""
    target = Path(path)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    key = serialization.load_pem_private_key(target.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigError(f"api.dev_signing_key {path} is not an EC P-256 private key")
    return key


def public_jwks(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The JWKS of the key's public half, as an identity provider publishes it."""
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**jwk, "kid": DEV_KEY_ID, "alg": "ES256", "use": "sig"}]}


def issue(key: ec.EllipticCurvePrivateKey, issuer: str, audience: str, region_claim: str, subject: str,
          scopes: Iterable[str], regions: Iterable[str], ttl_seconds: int) -> str:
    """A development token: ES256, signed by the local key."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ConfigError(f"unknown scope(s) {', '.join(unknown)}: the API's are {', '.join(SCOPES)}")
    if ttl_seconds <= 0:
        raise ConfigError("a token's ttl must be positive")
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "sub": subject, "iat": now, "nbf": now, "exp": now + ttl_seconds,
              "jti": uuid.uuid4().hex, "scope": " ".join(sorted(set(scopes))), region_claim: sorted(set(regions))}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": DEV_KEY_ID})
