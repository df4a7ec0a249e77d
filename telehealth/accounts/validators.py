"""Format rules for Vietnamese identifiers, phones and usernames."""

from __future__ import annotations

import re
from datetime import date

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
# Mobile numbers (03x, 05x, 07x, 08x, 09x) receive SMS; landlines (0 + area code 2xx and the
# subscriber number, 11 digits in all, e.g. 02143812345) are for calling back only.
PHONE_RE = re.compile(r"^(?:0|\+84)(?:3|5|7|8|9)\d{8}$")
LANDLINE_RE = re.compile(r"^(?:0|\+84)2\d{9}$")
_PHONE_PUNCTUATION = re.compile(r"[\s.\-()]")
NATIONAL_ID_RE = re.compile(r"^\d{12}$")
# The pre-2021 card: object code (2 letters), benefit level (1-5), province (2 digits),
# then the 10-digit social insurance number. Newer cards carry only those 10 digits.
INSURANCE_OLD_RE = re.compile(r"^[A-Z]{2}[1-5]\d{12}$")
INSURANCE_NEW_RE = re.compile(r"^\d{10}$")
# Province codes of the citizen identity card run 001-096 (with gaps we do not police).
MAX_PROVINCE_CODE = 96


def normalise_phone(phone: str) -> str:
    """Strip spaces, dots and dashes; raise ValueError unless a Vietnamese mobile number."""
    compact = _PHONE_PUNCTUATION.sub("", phone)
    if not PHONE_RE.match(compact):
        raise ValueError("must be a Vietnamese mobile number such as 0912345678 or +84912345678")
    return compact


def normalise_contact_phone(phone: str) -> str:
    """A patient's contact number: a mobile, or a landline for those without one."""
    compact = _PHONE_PUNCTUATION.sub("", phone)
    if not (PHONE_RE.match(compact) or LANDLINE_RE.match(compact)):
        raise ValueError(
            "must be a Vietnamese mobile number such as 0912345678 "
            "or a landline with its area code such as 02143812345"
        )
    return compact


def national_phone(phone: str) -> str:
    """A mobile or landline number in its 0... form; raise ValueError if it is neither."""
    compact = normalise_contact_phone(phone)
    return "0" + compact[3:] if compact.startswith("+84") else compact


def receives_sms(phone: str) -> bool:
    """Whether a stored number is a mobile one (landlines cannot take SMS)."""
    return PHONE_RE.match(_PHONE_PUNCTUATION.sub("", phone)) is not None


def check_username(username: str) -> str:
    """Lower-case and check a username."""
    value = username.strip().lower()
    if not USERNAME_RE.match(value):
        raise ValueError("3-64 characters: letters, digits, '.', '_' or '-'")
    return value


def check_national_id(value: str, date_of_birth: date | None, sex: str | None) -> str:
    """A 12-digit citizen identity number; its century/sex digit must agree with the person."""
    if not NATIONAL_ID_RE.match(value):
        raise ValueError("must be the 12 digits of a citizen identity card (CCCD)")
    province = int(value[:3])
    if not 1 <= province <= MAX_PROVINCE_CODE:
        raise ValueError("the first three digits must be a province code (001-096)")
    code = int(value[3])
    century = 1900 + (code // 2) * 100
    female = code % 2 == 1
    if date_of_birth is not None:
        if date_of_birth.year // 100 * 100 != century:
            raise ValueError("the fourth digit does not match the century of birth")
        if int(value[4:6]) != date_of_birth.year % 100:
            raise ValueError("digits 5-6 do not match the year of birth")
    if sex in {"male", "female"} and female != (sex == "female"):
        raise ValueError("the fourth digit does not match the recorded sex")
    return value


def check_insurance_number(value: str) -> str:
    """A health-insurance (BHYT) number in the 15-character or the 10-digit form."""
    compact = value.replace(" ", "").upper()
    if not (INSURANCE_OLD_RE.match(compact) or INSURANCE_NEW_RE.match(compact)):
        raise ValueError(
            "must be a BHYT number: 2 letters, a digit 1-5 and 12 digits, or the 10-digit code"
        )
    return compact
