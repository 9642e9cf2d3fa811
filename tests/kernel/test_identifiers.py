"""Tests for services.kernel.identifiers: real identifiers, normalisation and error messages."""

from __future__ import annotations

import pytest

from services.kernel import identifiers as ids
from services.kernel.identifiers import PROVINCES
from services.kernel.identifiers import IdentifierError
from services.kernel.identifiers import normalize_doi
from services.kernel.identifiers import normalize_orcid
from services.kernel.identifiers import normalize_region_code
from services.kernel.identifiers import normalize_ror
from services.kernel.identifiers import normalize_uscc
from services.kernel.identifiers import province_of

# --------------------------------------------------------------------------------------------
# Shared behaviour
# --------------------------------------------------------------------------------------------

ALL_NORMALIZERS = [
    (normalize_uscc, "uscc"),
    (normalize_ror, "ror"),
    (normalize_orcid, "orcid"),
    (normalize_doi, "doi"),
    (normalize_region_code, "region_code"),
]


@pytest.mark.parametrize(("func", "kind"), ALL_NORMALIZERS)
@pytest.mark.parametrize("blank", ["", "   ", "\u3000\t\n"])
def test_blank_input_is_rejected_as_empty(func, kind, blank):
    with pytest.raises(IdentifierError, match="is empty") as exc_info:
        func(blank)
    assert exc_info.value.kind == kind


@pytest.mark.parametrize(("func", "kind"), ALL_NORMALIZERS)
@pytest.mark.parametrize("value", [None, 12345, b"110000"])
def test_non_string_input_is_rejected_with_type_name(func, kind, value):
    with pytest.raises(IdentifierError, match=f"must be given as text, got {type(value).__name__}"):
        func(value)


def test_identifier_error_is_a_value_error():
    with pytest.raises(ValueError, match="USCC must be exactly 18 characters") as exc_info:
        normalize_uscc("123")
    assert isinstance(exc_info.value, IdentifierError)
    assert exc_info.value.kind == "uscc"


# --------------------------------------------------------------------------------------------
# USCC
# --------------------------------------------------------------------------------------------


def test_uscc_weights_match_gb_32100_table():
    assert ids._USCC_WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    assert len(ids._USCC_ALPHABET) == 31
    assert not set("IOZSV") & set(ids._USCC_ALPHABET)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12100000400000624D", "12100000400000624D"),  # real code, central-level (100000)
        ("91350100M000100Y43", "91350100M000100Y43"),  # real code, Fuzhou (350100)
        ("91350100m000100y43", "91350100M000100Y43"),  # lower case
        ("  12100000400000624d\n", "12100000400000624D"),  # surrounding whitespace
        ("９１３５０１００Ｍ０００１００Ｙ４３", "91350100M000100Y43"),  # full-width
        ("91110108MA01004AB0", "91110108MA01004AB0"),  # check sum 31 is written as '0'
    ],
)
def test_uscc_valid(raw, expected):
    assert normalize_uscc(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("12100000400000624E", "USCC check character should be 'D', got 'E'"),
        ("91350100M000100Y44", "USCC check character should be '3', got '4'"),
        # transposed characters in the body are caught by the weighted checksum
        ("91350100M000010Y43", "USCC check character should be 'J', got '3'"),
        ("91350100N000100Y43", "USCC check character should be 'E', got '3'"),
    ],
)
def test_uscc_checksum_failure_names_expected_character(raw, message):
    with pytest.raises(IdentifierError, match=message) as exc_info:
        normalize_uscc(raw)
    assert "re-check the last character" in str(exc_info.value)


@pytest.mark.parametrize(
    ("raw", "length"),
    [
        ("12100000400000624", 17),
        ("12100000400000624D0", 19),
        ("9135 0100M000100Y43", 19),
    ],
)
def test_uscc_wrong_length(raw, length):
    with pytest.raises(IdentifierError, match=f"exactly 18 characters, got {length}"):
        normalize_uscc(raw)


@pytest.mark.parametrize(
    ("raw", "char", "position", "hint"),
    [
        ("91350100M0001OOY43", "O", 14, "did you mean '0'"),
        ("9135010OM000100Y43", "O", 8, "did you mean '0'"),
        ("91350100MI00100Y43", "I", 10, "did you mean '1'"),
        ("91350100M000100Z43", "Z", 16, "did you mean '2'"),
        ("91350100S000100Y43", "S", 9, "did you mean '5'"),
        ("91350100V000100Y43", "V", 9, "did you mean 'U'"),
        ("91350100M-00100Y43", "-", 10, "only digits 0-9 and letters A-Z"),
        ("91350100M000100Y4*", "*", 18, "only digits 0-9 and letters A-Z"),
    ],
)
def test_uscc_invalid_character_reports_position_and_hint(raw, char, position, hint):
    with pytest.raises(IdentifierError) as exc_info:
        normalize_uscc(raw)
    message = str(exc_info.value)
    assert f"invalid character {char!r} at position {position}" in message
    assert hint in message


@pytest.mark.parametrize("raw", ["9135A100M000100Y43", "91JJ0100M000100Y43"])
def test_uscc_division_code_must_be_digits(raw):
    with pytest.raises(IdentifierError, match="positions 3-8 must be a 6-digit"):
        normalize_uscc(raw)


# --------------------------------------------------------------------------------------------
# ROR
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ror",
    [
        "02v51f717",  # Peking University
        "03cve4549",  # Tsinghua University
        "00f54p054",  # Stanford University
        "052gg0110",  # University of Oxford
        "013meh722",  # University of Cambridge
        "01an7q238",  # University of California, Berkeley
        "05qwgg493",  # Boston University
    ],
)
def test_ror_real_ids_are_valid(ror):
    assert normalize_ror(ror) == ror


@pytest.mark.parametrize(
    "raw",
    [
        "https://ror.org/02v51f717",
        "http://ror.org/02v51f717",
        "https://ror.org/02v51f717/",
        "ror.org/02v51f717",
        "ror:02v51f717",
        "ROR:02V51F717",
        "HTTPS://ROR.ORG/02V51F717",
        "  ０２ｖ５１ｆ７１７ ",
        "ｈｔｔｐｓ：／／ｒｏｒ．ｏｒｇ／０２ｖ５１ｆ７１７",
    ],
)
def test_ror_prefixes_case_and_full_width_are_normalised(raw):
    assert normalize_ror(raw) == "02v51f717"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("02v51f718", "checksum should be '17', got '18'"),
        ("03cve4594", "checksum should be '49', got '94'"),
        ("02v15f717", "checksum should be"),  # transposition in the base32 body
    ],
)
def test_ror_checksum_failure(raw, message):
    with pytest.raises(IdentifierError, match=message) as exc_info:
        normalize_ror(raw)
    assert "copy it again from ror.org" in str(exc_info.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("02v51f71", "must be 9 characters .* got 8"),
        ("https://ror.org/02v51f7170", "must be 9 characters .* got 10"),
        ("https://ror.org/", "must be 9 characters .* got 0"),
        ("12v51f717", "must start with '0', got '1'"),
        ("02v51fo17", "invalid character 'o' at position 7; .*did you mean '0'"),
        ("02v51f7o7", "must end with 2 checksum digits, got 'o7'; re-check the last two"),
        ("02v5lf717", "invalid character 'l' at position 5; .*did you mean '1'"),
        ("0iv51f717", "invalid character 'i' at position 2; .*did you mean '1'"),
        ("02u51f717", "invalid character 'u' at position 3; .*did you mean 'v'"),
        ("02v5-f717", "invalid character '-' at position 5; only digits and letters"),
        ("02v51f7a7", "must end with 2 checksum digits, got 'a7'"),
    ],
)
def test_ror_shape_failures(raw, message):
    with pytest.raises(IdentifierError, match=message):
        normalize_ror(raw)


# --------------------------------------------------------------------------------------------
# ORCID
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0000-0002-1825-0097", "0000-0002-1825-0097"),
        ("0000000218250097", "0000-0002-1825-0097"),
        ("https://orcid.org/0000-0002-1825-0097", "0000-0002-1825-0097"),
        ("http://orcid.org/0000-0002-1825-0097/", "0000-0002-1825-0097"),
        ("orcid.org/0000000218250097", "0000-0002-1825-0097"),
        ("ORCID:0000-0002-1825-0097", "0000-0002-1825-0097"),
        ("0000 0002 1825 0097", "0000-0002-1825-0097"),
        ("０００００００２１８２５００９７", "0000-0002-1825-0097"),
        ("0000-0002-1694-233x", "0000-0002-1694-233X"),  # 'X' check character, lower case
        ("0000-0003-4011-0258", "0000-0003-4011-0258"),
    ],
)
def test_orcid_valid_and_normalised(raw, expected):
    assert normalize_orcid(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0000-0002-1825-0098", "check character should be '7', got '8'"),
        ("0000-0002-1694-2330", "check character should be 'X', got '0'"),
        ("0000-0002-1852-0097", "check character should be"),  # transposed digits
    ],
)
def test_orcid_checksum_failure(raw, message):
    with pytest.raises(IdentifierError, match=message) as exc_info:
        normalize_orcid(raw)
    assert "re-check the digits" in str(exc_info.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0000-0002-1825-009", "must have 16 characters .* got 15"),
        ("0000-0002-1825-00977", "must have 16 characters .* got 17"),
        ("https://orcid.org/", "must have 16 characters .* got 0"),
        ("0000-000X-1825-0097", "invalid character 'X'; the first 15 characters must be digits"),
        ("0000-0002-18A5-0097", "invalid character 'A'"),
        ("0000-0002-1825-009Y", "must end with a digit or 'X', got 'Y'"),
    ],
)
def test_orcid_shape_failures(raw, message):
    with pytest.raises(IdentifierError, match=message):
        normalize_orcid(raw)


# --------------------------------------------------------------------------------------------
# DOI
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10.1038/nphys1170", "10.1038/nphys1170"),
        ("10.1016/J.CELL.2009.01.002", "10.1016/j.cell.2009.01.002"),
        ("https://doi.org/10.1093/ajae/aaq063", "10.1093/ajae/aaq063"),
        ("http://dx.doi.org/10.1000/182", "10.1000/182"),
        ("https://dx.doi.org/10.1000/182", "10.1000/182"),
        ("doi.org/10.1000/182", "10.1000/182"),
        ("doi:10.1000/182", "10.1000/182"),
        ("DOI: 10.1000/182", "10.1000/182"),
        ("ｄｏｉ：１０．１０００／ＡＢＣ", "10.1000/abc"),
        ("https://doi.org/10.1000/a%2Fb%23c", "10.1000/a/b#c"),  # percent-encoded URL form
        ("10.123456789/x", "10.123456789/x"),  # 9-digit registrant code
        (
            "10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-0",
            "10.1002/(sici)1097-4571(199806)49:8<693::aid-asi4>3.0.co;2-0",
        ),
    ],
)
def test_doi_valid_and_normalised(raw, expected):
    assert normalize_doi(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("11.1000/abc", "must start with '10.'"),
        ("https://example.org/10.1000/abc", "must start with '10.'"),
        ("10.1000", "has no '/' between prefix and suffix"),
        ("10.123/abc", "prefix should be '10.' followed by 4-9 digits, got '10.123'"),
        ("10.1234567890/abc", "4-9 digits, got '10.1234567890'"),
        ("10.abcd/xyz", "4-9 digits, got '10.abcd'"),
        ("10.1000/", "empty suffix"),
        ("10.1000/abc def", "must not contain whitespace"),
        ("https://doi.org/10.1000/abc%20def", "must not contain whitespace"),
    ],
)
def test_doi_failures(raw, message):
    with pytest.raises(IdentifierError, match=message):
        normalize_doi(raw)


# --------------------------------------------------------------------------------------------
# GB/T 2260 region codes
# --------------------------------------------------------------------------------------------


def test_provinces_table_has_34_province_level_divisions():
    assert len(PROVINCES) == 34
    assert all(len(k) == 2 and k.isdigit() for k in PROVINCES)
    assert PROVINCES["11"] == "北京市"
    assert PROVINCES["65"] == "新疆维吾尔自治区"
    assert PROVINCES["71"] == "台湾省"
    assert PROVINCES["81"] == "香港特别行政区"
    assert PROVINCES["82"] == "澳门特别行政区"
    municipalities = {k for k, v in PROVINCES.items() if v.endswith("市")}
    assert municipalities == {"11", "12", "31", "50"}


@pytest.mark.parametrize(
    ("raw", "code", "province"),
    [
        ("110105", "110105", "北京市"),
        ("110000", "110000", "北京市"),
        ("440300", "440300", "广东省"),
        ("350100", "350100", "福建省"),
        ("500000", "500000", "重庆市"),
        ("650100", "650100", "新疆维吾尔自治区"),
        ("820000", "820000", "澳门特别行政区"),
        (" ３１０１１５ ", "310115", "上海市"),
    ],
)
def test_region_code_valid(raw, code, province):
    assert normalize_region_code(raw) == code
    assert province_of(raw) == province


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("11010", "exactly 6 digits .*got 5"),
        ("1101055", "exactly 6 digits .*got 7"),
        ("11", "exactly 6 digits .*got 2; pad province or city codes with trailing zeros"),
        ("11010a", "digits only .*got '11010a'"),
        ("11-0105", "digits only"),
        ("١١٠١٠٥", "digits only"),  # Arabic-Indic digits are not GB/T 2260 codes
        ("100000", "unknown province prefix '10'"),
        ("990000", "unknown province prefix '99'"),
        ("720000", "unknown province prefix '72'"),
    ],
)
def test_region_code_failures(raw, message):
    with pytest.raises(IdentifierError, match=message):
        normalize_region_code(raw)


def test_province_of_propagates_validation_error():
    with pytest.raises(IdentifierError, match="unknown province prefix '00'"):
        province_of("000000")
