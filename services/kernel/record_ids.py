"""Opaque, stable record IDs: a library prefix and a time-ordered random part."""

from __future__ import annotations

import re
import secrets
import time

# Crockford base32, lower case: no i, l, o, u, so IDs survive being read aloud or retyped.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
ID_BODY_LENGTH = 20
_ID_PATTERN = re.compile(rf"^(?P<prefix>[a-z]{{2,4}})_(?P<body>[{_ALPHABET}]{{{ID_BODY_LENGTH}}})$")


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """`prefix_` + 48-bit millisecond time + 52 random bits (sorts roughly by creation)."""
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{_encode(millis, 10)}{_encode(secrets.randbits(50), 10)}"


def is_id(value: str, prefix: str) -> bool:
    match = _ID_PATTERN.match(value)
    return match is not None and match.group("prefix") == prefix
