"""Folded names: what patient search compares."""

from __future__ import annotations

import unicodedata

import pytest

from telehealth.accounts.folding import fold
from telehealth.accounts.search import PatientSearch


@pytest.mark.parametrize(
    ("name", "folded"),
    [
        ("Nguyễn Văn Bình", "nguyen van binh"),
        ("Hoàng Thị Nở", "hoang thi no"),
        ("ĐẶNG  Quốc\tBảo", "dang quoc bao"),
        ("Lường Văn Cường", "luong van cuong"),
    ],
)
def test_names_fold_to_plain_lower_case(name: str, folded: str) -> None:
    assert fold(name) == folded
    # Text typed in decomposed form (some keyboards) folds the same.
    assert fold(unicodedata.normalize("NFD", name)) == folded


def test_a_search_reads_phone_and_identifier_forms() -> None:
    phone = PatientSearch.parse("+84 987 654 321")
    assert phone.phones == ("0987654321", "+84987654321")
    assert phone.exact
    name = PatientSearch.parse("Nguyễn Văn")
    assert (name.name, name.phones, name.exact) == ("nguyen van", (), False)
    assert PatientSearch.parse("gd4121122334455").identifier == "GD4121122334455"
