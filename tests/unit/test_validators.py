"""Format rules of Vietnamese identifiers."""

from __future__ import annotations

from datetime import date

import pytest

from telehealth.accounts import validators as v


@pytest.mark.parametrize("phone", ["0912345678", "+84912345678", "091 234 5678", "0387.654.321"])
def test_vietnamese_mobile_numbers_are_accepted(phone: str) -> None:
    assert v.normalise_phone(phone).lstrip("+").isdigit()


@pytest.mark.parametrize("phone", ["0212345678", "12345", "+1 415 555 0100", "09123456789"])
def test_other_numbers_are_refused(phone: str) -> None:
    with pytest.raises(ValueError, match="mobile"):
        v.normalise_phone(phone)


@pytest.mark.parametrize("phone", ["02143812345", "024 3825 1234", "+84 214 381 2345"])
def test_landlines_are_a_contact_number_but_receive_no_sms(phone: str) -> None:
    compact = v.normalise_contact_phone(phone)
    assert v.national_phone(compact) in {"02143812345", "02438251234"}
    assert not v.receives_sms(compact)
    with pytest.raises(ValueError, match="mobile"):
        v.normalise_phone(phone)


@pytest.mark.parametrize("phone", ["0212345678", "0112345678901", "0612345678", "12345"])
def test_numbers_neither_mobile_nor_landline_are_refused_as_contact(phone: str) -> None:
    with pytest.raises(ValueError, match="landline"):
        v.normalise_contact_phone(phone)


def test_mobiles_receive_sms_in_either_spelling() -> None:
    assert v.receives_sms("0912345678")
    assert v.receives_sms("+84912345678")
    assert v.national_phone("+84912345678") == "0912345678"


def test_national_id_agrees_with_birth_and_sex() -> None:
    # 001 Hà Nội, 3 = female born 2000-2099, 05 = born 2005.
    assert v.check_national_id("001305012345", date(2005, 3, 1), "female") == "001305012345"
    with pytest.raises(ValueError, match="century"):
        v.check_national_id("001305012345", date(1995, 3, 1), "female")
    with pytest.raises(ValueError, match="sex"):
        v.check_national_id("001305012345", date(2005, 3, 1), "male")
    with pytest.raises(ValueError, match="year"):
        v.check_national_id("001306012345", date(2005, 3, 1), None)


@pytest.mark.parametrize("bad", ["12345678901", "0013050123456", "abc305012345", "099305012345"])
def test_malformed_national_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"digits|province"):
        v.check_national_id(bad, None, None)


@pytest.mark.parametrize("good", ["HC4011234567890", "dn 1 79 1234567890", "0123456789"])
def test_insurance_numbers_in_both_forms(good: str) -> None:
    assert v.check_insurance_number(good) == good.replace(" ", "").upper()


@pytest.mark.parametrize("bad", ["HC6011234567890", "H4011234567890", "12345", "XX40112345678901"])
def test_malformed_insurance_numbers_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="BHYT"):
        v.check_insurance_number(bad)


def test_usernames_are_lower_cased_and_checked() -> None:
    assert v.check_username(" BS.Hoa ") == "bs.hoa"
    with pytest.raises(ValueError, match="characters"):
        v.check_username("a b")
