"""Opaque page tokens for keyset pagination.

A token carries the key of the last row of its page and a fingerprint of the query it belongs to
(the resource, its filters and the caller's regions), signed with HMAC-SHA256 under the configured
key (`api.page_token_key`). A token that was altered, forged, is too long, or comes from another
query (other filters, another region) is refused, so a page walk cannot be steered to rows the
query does not select; the key values it carries only ever reach SQL as bound parameters.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

MAX_TOKEN_CHARS = 512


class BadPageToken(Exception):  # noqa: N818 - becomes a 400
    """The page token is not one this query issued."""


def fingerprint(*parts: Any) -> str:
    """A digest of what makes a query the same query (JSON of `parts`, keys sorted)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class PageTokens:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the page token key is too short")
        self._key = key

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:16]

    def issue(self, query: str, last_key: Sequence[Any]) -> str:
        body = json.dumps({"k": [None if v is None else str(v) for v in last_key]},
                          separators=(",", ":")).encode()
        return f"{_b64(body)}.{_b64(self._sign(body + query.encode()))}"

    def read(self, token: str, query: str, width: int) -> list[str | None]:
        """The last key a token carries (as text), if `query` issued it; else `BadPageToken`."""
        if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            raise BadPageToken("the page token is not valid")
        body_text, signature_text = token.split(".")
        try:
            body, signature = _unb64(body_text), _unb64(signature_text)
        except ValueError:
            raise BadPageToken("the page token is not valid") from None
        if not hmac.compare_digest(signature, self._sign(body + query.encode())):
            raise BadPageToken("the page token is not valid for this query")
        content = json.loads(body)
        last = content.get("k")
        if not isinstance(last, list) or len(last) != width:
            raise BadPageToken("the page token is not valid for this query")
        return last


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, base64.binascii.Error) as err:  # type: ignore[attr-defined]
        raise ValueError(str(err)) from None
