"""What a patient search text can mean: part of a name, a phone number, a citizen identity
number or a health-insurance number, each compared in one normal form."""

from __future__ import annotations

from dataclasses import dataclass

from telehealth.accounts import validators
from telehealth.accounts.folding import fold

__all__ = ["PatientSearch"]


@dataclass(frozen=True)
class PatientSearch:
    """A search text read every way it can match a patient record."""

    name: str
    phones: tuple[str, ...]
    identifier: str | None

    @classmethod
    def parse(cls, text: str) -> PatientSearch:
        """Fold the name part; read phone, national id and insurance number if they fit."""
        compact = "".join(text.split()).upper()
        identifier = compact if compact.isalnum() else None
        return cls(name=fold(text), phones=_phone_forms(text), identifier=identifier)

    @property
    def exact(self) -> bool:
        """Whether the text is a whole phone number or identifier, not part of a name."""
        return bool(self.phones) or _is_identifier(self.identifier)


def _phone_forms(text: str) -> tuple[str, ...]:
    """Both stored spellings (0... and +84...) of a Vietnamese number, or none."""
    try:
        national = validators.national_phone(text)
    except ValueError:
        return ()
    return (national, "+84" + national[1:])


def _is_identifier(value: str | None) -> bool:
    if value is None:
        return False
    return bool(
        validators.NATIONAL_ID_RE.match(value)
        or validators.INSURANCE_OLD_RE.match(value)
        or validators.INSURANCE_NEW_RE.match(value)
    )
