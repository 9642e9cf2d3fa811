"""Validation and normalisation of the external identifiers carried by platform records.

Every ``normalize_*`` function accepts free user input, applies Unicode NFKC (so full-width
digits, letters and punctuation such as ``９１３５`` or ``ｄｏｉ：`` are accepted), strips
surrounding whitespace, and returns the canonical form stored in the database. Invalid input
raises :class:`IdentifierError`, a :class:`ValueError` whose message says what is wrong and how
to fix it, so it can be shown to the user as-is (and Pydantic validators turn it into a 422).

Supported identifiers:

* USCC - 统一社会信用代码, GB 32100-2015 (18 characters, mod-31 check character).
* ROR - Research Organization Registry ID (9 characters, ISO 7064 mod 97-10 checksum).
* ORCID - researcher ID (16 digits, ISO 7064 MOD 11-2 check character).
* DOI - Digital Object Identifier, ISO 26324 (``10.<registrant>/<suffix>``).
* Region codes - GB/T 2260 administrative-division codes (6 digits, province prefix checked).

The module is pure logic: no I/O, no database access.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

__all__ = [
    "PROVINCES",
    "IdentifierError",
    "normalize_doi",
    "normalize_orcid",
    "normalize_region_code",
    "normalize_ror",
    "normalize_uscc",
    "province_of",
]


class IdentifierError(ValueError):
    """Raised when an identifier is malformed; the message explains how to fix it."""

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind


def _prepare(value: object, label: str, kind: str) -> str:
    """Apply NFKC and strip surrounding whitespace; reject non-strings and empty input."""
    if not isinstance(value, str):
        raise IdentifierError(
            f"{label} must be given as text, got {type(value).__name__}", kind=kind
        )
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        raise IdentifierError(f"{label} is empty; enter the identifier", kind=kind)
    return text


def _is_ascii_digits(text: str) -> bool:
    """Return True if ``text`` is non-empty and made of ASCII digits 0-9 only."""
    return text.isascii() and text.isdigit()


def _strip_prefix(text: str, pattern: re.Pattern[str]) -> tuple[str, bool]:
    """Remove a URL / scheme prefix matched by ``pattern``; report whether one was removed."""
    match = pattern.match(text)
    if match is None:
        return text, False
    return text[match.end() :], True


# --------------------------------------------------------------------------------------------
# USCC - 统一社会信用代码
# --------------------------------------------------------------------------------------------

# GB 32100-2015 (code structure): the code alphabet is 0-9 plus the 21 capital letters left after
# removing I, O, Z, S and V (too easily confused with 1, 0, 2, 5 and U); a character's value is
# its index in this 31-character string.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {ch: i for i, ch in enumerate(_USCC_ALPHABET)}
# GB 32100-2015 (check character): weight of position i (0-based) is 3**i mod 31.
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_USCC_EXCLUDED_HINTS = {"I": "1", "O": "0", "Z": "2", "S": "5", "V": "U"}


def _uscc_check_char(body: str) -> str:
    """Return the GB 32100-2015 check character for the first 17 characters of a USCC."""
    # GB 32100-2015: C18 = 31 - (sum(Ci * Wi) mod 31); a result of 31 is written as 0.
    total = sum(_USCC_VALUE[ch] * w for ch, w in zip(body, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def normalize_uscc(value: str) -> str:
    """Validate a 统一社会信用代码 (GB 32100-2015) and return it upper-cased."""
    kind = "uscc"
    code = _prepare(value, "USCC", kind).upper()
    if len(code) != 18:
        raise IdentifierError(
            f"USCC must be exactly 18 characters, got {len(code)}; "
            "check for missing or extra characters",
            kind=kind,
        )
    for pos, ch in enumerate(code, start=1):
        if ch in _USCC_VALUE:
            continue
        if ch in _USCC_EXCLUDED_HINTS:
            hint = (
                f"the letters I, O, Z, S and V are never used; "
                f"did you mean '{_USCC_EXCLUDED_HINTS[ch]}'?"
            )
        else:
            hint = "only digits 0-9 and letters A-Z except I, O, Z, S, V are allowed"
        raise IdentifierError(
            f"USCC contains invalid character {ch!r} at position {pos}; {hint}", kind=kind
        )
    # GB 32100-2015: position 1 is the registration-authority code and position 2 the
    # organisation-type code; their assignments are extended over time, so only the alphabet
    # is checked for them. Positions 3-8 are a GB/T 2260 division code (e.g. 100000 for the
    # central level, so the province prefix is deliberately not checked here).
    division = code[2:8]
    if not _is_ascii_digits(division):
        raise IdentifierError(
            f"USCC positions 3-8 must be a 6-digit administrative-division code, "
            f"got {division!r}; re-check those characters",
            kind=kind,
        )
    expected = _uscc_check_char(code[:17])
    if code[17] != expected:
        raise IdentifierError(
            f"USCC check character should be {expected!r}, got {code[17]!r}; "
            "re-check the last character and the 17 before it",
            kind=kind,
        )
    return code


# --------------------------------------------------------------------------------------------
# ROR - Research Organization Registry
# --------------------------------------------------------------------------------------------

# ROR identifier documentation (ror.readme.io): '0' + 6 characters of
# Crockford base32 (0-9a-z without i, l, o, u) + 2 decimal checksum digits.
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_CROCKFORD_VALUE = {ch: i for i, ch in enumerate(_CROCKFORD)}
_CROCKFORD_HINTS = {"i": "1", "l": "1", "o": "0", "u": "v"}
_ROR_PREFIX = re.compile(r"(?:https?://)?(?:www\.)?ror\.org/|ror:", re.IGNORECASE)


def _ror_checksum(prefix: str) -> str:
    """Return the two checksum digits ROR appends to a 7-character base32 prefix."""
    # ISO 7064 mod 97-10 over the integer value n of the base32 prefix, as generated by ROR's
    # base32 library: check = 98 - (100 * n mod 97), always written with two digits. Verified
    # against real IDs: 02v51f717 (Peking U.), 03cve4549 (Tsinghua U.), 00f54p054 (Stanford),
    # 052gg0110 (Oxford), 013meh722 (Cambridge), 01an7q238 (UC Berkeley), 05qwgg493 (Boston U.).
    number = 0
    for ch in prefix:
        number = number * 32 + _CROCKFORD_VALUE[ch]
    return f"{98 - (number * 100) % 97:02d}"


def normalize_ror(value: str) -> str:
    """Validate a ROR ID (bare, ``ror:`` or ``https://ror.org/`` form); return the bare id."""
    kind = "ror"
    text = _prepare(value, "ROR ID", kind)
    ror, _ = _strip_prefix(text, _ROR_PREFIX)
    ror = ror.rstrip("/").lower()
    if len(ror) != 9:
        raise IdentifierError(
            f"ROR ID must be 9 characters (e.g. 02v51f717 or https://ror.org/02v51f717), "
            f"got {len(ror)} in {ror!r}",
            kind=kind,
        )
    if ror[0] != "0":
        raise IdentifierError(
            f"ROR ID must start with '0', got {ror[0]!r}; copy the id from its ror.org page",
            kind=kind,
        )
    for pos, ch in enumerate(ror[1:7], start=2):
        if ch in _CROCKFORD_VALUE:
            continue
        if ch in _CROCKFORD_HINTS:
            hint = f"ROR IDs never use i, l, o or u; did you mean '{_CROCKFORD_HINTS[ch]}'?"
        else:
            hint = "only digits and letters a-z except i, l, o, u are allowed"
        raise IdentifierError(
            f"ROR ID contains invalid character {ch!r} at position {pos}; {hint}", kind=kind
        )
    if not _is_ascii_digits(ror[7:]):
        raise IdentifierError(
            f"ROR ID must end with 2 checksum digits, got {ror[7:]!r}; "
            "re-check the last two characters",
            kind=kind,
        )
    expected = _ror_checksum(ror[:7])
    if ror[7:] != expected:
        raise IdentifierError(
            f"ROR ID checksum should be {expected!r}, got {ror[7:]!r}; "
            "the id is mistyped - copy it again from ror.org",
            kind=kind,
        )
    return ror


# --------------------------------------------------------------------------------------------
# ORCID
# --------------------------------------------------------------------------------------------

_ORCID_PREFIX = re.compile(r"(?:https?://)?(?:www\.)?orcid\.org/|orcid:", re.IGNORECASE)


def _orcid_check_char(digits: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character for the first 15 ORCID digits."""
    # ISO/IEC 7064:2003 MOD 11-2 (as specified by ORCID's "Structure of the ORCID Identifier"):
    # fold t = (t + d) * 2 over the digits; check = (12 - t mod 11) mod 11, with 10 written 'X'.
    total = 0
    for d in digits:
        total = (total + int(d)) * 2
    result = (12 - total % 11) % 11
    return "X" if result == 10 else str(result)


def normalize_orcid(value: str) -> str:
    """Validate an ORCID iD (URL, hyphenated or bare); return ``0000-0000-0000-000X`` form."""
    kind = "orcid"
    text = _prepare(value, "ORCID iD", kind)
    text, _ = _strip_prefix(text, _ORCID_PREFIX)
    compact = re.sub(r"[\s-]", "", text.rstrip("/")).upper()
    if len(compact) != 16:
        raise IdentifierError(
            f"ORCID iD must have 16 characters (e.g. 0000-0002-1825-0097), "
            f"got {len(compact)} in {text!r}",
            kind=kind,
        )
    body, check = compact[:15], compact[15]
    bad = next((ch for ch in body if ch not in "0123456789"), None)
    if bad is not None:
        raise IdentifierError(
            f"ORCID iD contains invalid character {bad!r}; the first 15 characters must be "
            "digits (only the last may be 'X')",
            kind=kind,
        )
    if check not in "0123456789X":
        raise IdentifierError(
            f"ORCID iD must end with a digit or 'X', got {check!r}; re-check the last character",
            kind=kind,
        )
    expected = _orcid_check_char(body)
    if check != expected:
        raise IdentifierError(
            f"ORCID iD check character should be {expected!r}, got {check!r}; "
            "re-check the digits (copy the iD from the researcher's orcid.org page)",
            kind=kind,
        )
    return "-".join(compact[i : i + 4] for i in range(0, 16, 4))


# --------------------------------------------------------------------------------------------
# DOI
# --------------------------------------------------------------------------------------------

# ISO 26324 / DOI Handbook (DOI syntax): "10." + registrant code, "/", then a non-empty suffix.
# Registrant codes are taken as 4-9 digits (sub-prefixes such as 10.1000.10 are not accepted).
_DOI_PREFIX = re.compile(r"(?:https?://)?(?:dx\.)?doi\.org/|doi:\s*", re.IGNORECASE)
_DOI_SHAPE = re.compile(r"10\.\d{4,9}/\S+")


def normalize_doi(value: str) -> str:
    """Validate a DOI (bare, ``doi:`` or doi.org URL form); return it lower-cased."""
    kind = "doi"
    text = _prepare(value, "DOI", kind)
    doi, from_url = _strip_prefix(text, _DOI_PREFIX)
    if from_url and "://" in text:
        # In URL form the suffix may be percent-encoded (DOI Handbook, URI encoding); decode it.
        doi = unquote(doi)
    doi = doi.strip()
    if not doi.startswith("10."):
        raise IdentifierError(
            f"DOI must start with '10.' (e.g. 10.1000/xyz123 or https://doi.org/10.1000/xyz123),"
            f" got {doi[:20]!r}",
            kind=kind,
        )
    if "/" not in doi:
        raise IdentifierError(
            f"DOI {doi!r} has no '/' between prefix and suffix; it should look like 10.1000/xyz123",
            kind=kind,
        )
    prefix, suffix = doi.split("/", 1)
    if not re.fullmatch(r"10\.\d{4,9}", prefix):
        raise IdentifierError(
            f"DOI prefix should be '10.' followed by 4-9 digits, got {prefix!r}",
            kind=kind,
        )
    if not suffix:
        raise IdentifierError(
            f"DOI {doi!r} has an empty suffix; copy the full DOI including the part after '/'",
            kind=kind,
        )
    if not _DOI_SHAPE.fullmatch(doi):
        raise IdentifierError(
            f"DOI must not contain whitespace, got {doi!r}; remove the spaces or line breaks",
            kind=kind,
        )
    # DOI Handbook: DOI names are case-insensitive for ASCII, so lower case is canonical.
    return doi.lower()


# --------------------------------------------------------------------------------------------
# GB/T 2260 administrative-division codes
# --------------------------------------------------------------------------------------------

# GB/T 2260-2007 (and the current MCA list): the 34 province-level divisions and the first two
# digits of their codes.
PROVINCES: dict[str, str] = {
    "11": "北京市",
    "12": "天津市",
    "13": "河北省",
    "14": "山西省",
    "15": "内蒙古自治区",
    "21": "辽宁省",
    "22": "吉林省",
    "23": "黑龙江省",
    "31": "上海市",
    "32": "江苏省",
    "33": "浙江省",
    "34": "安徽省",
    "35": "福建省",
    "36": "江西省",
    "37": "山东省",
    "41": "河南省",
    "42": "湖北省",
    "43": "湖南省",
    "44": "广东省",
    "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市",
    "51": "四川省",
    "52": "贵州省",
    "53": "云南省",
    "54": "西藏自治区",
    "61": "陕西省",
    "62": "甘肃省",
    "63": "青海省",
    "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
    "71": "台湾省",
    "81": "香港特别行政区",
    "82": "澳门特别行政区",
}


def normalize_region_code(value: str) -> str:
    """Validate a 6-digit GB/T 2260 region code with a known province prefix; return it."""
    kind = "region_code"
    code = _prepare(value, "Region code", kind)
    # GB/T 2260: six decimal digits - province (1-2), prefecture (3-4), county (5-6). Only the
    # province pair is checked; the full prefecture/county list is not shipped.
    if not _is_ascii_digits(code):
        raise IdentifierError(
            f"Region code must contain digits only (e.g. 110105), got {code!r}", kind=kind
        )
    if len(code) != 6:
        raise IdentifierError(
            f"Region code must be exactly 6 digits (e.g. 110000 for 北京市), got {len(code)}; "
            "pad province or city codes with trailing zeros",
            kind=kind,
        )
    if code[:2] not in PROVINCES:
        raise IdentifierError(
            f"Region code {code!r} starts with unknown province prefix {code[:2]!r}; "
            "the first two digits must be a province code such as 11 (北京市) or 44 (广东省)",
            kind=kind,
        )
    return code


def province_of(region_code: str) -> str:
    """Return the province-level name (e.g. 北京市) for a GB/T 2260 region code."""
    return PROVINCES[normalize_region_code(region_code)[:2]]


def reconciled_province(region_code: str | None, province: str | None) -> str | None:
    """The official province of `region_code`, checked against the one given ("北京" and
    "北京市", "广西" and "广西壮族自治区" name the same); `province` when there is no code."""
    if not region_code:
        return province
    official = province_of(region_code)
    if province is not None and not (official.startswith(province) and len(province) >= 2):
        raise ValueError(
            f"region_code {region_code} is in {official}, but province is {province!r}; "
            "correct one of them (or omit province)"
        )
    return official
