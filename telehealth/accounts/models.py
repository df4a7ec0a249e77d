"""ORM rows of the accounts feature."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from telehealth.accounts.folding import fold
from telehealth.db.base import Base, new_id, utcnow


class Role(StrEnum):
    """What a user may act as; one user can hold several roles."""

    PATIENT = "patient"
    DOCTOR = "doctor"
    SPECIALIST = "specialist"
    COORDINATOR = "coordinator"
    TRAINER = "trainer"
    TRAINEE = "trainee"
    ADMIN = "admin"


STAFF_ROLES = frozenset({Role.DOCTOR, Role.SPECIALIST, Role.COORDINATOR, Role.ADMIN})
CLINICAL_ROLES = frozenset({Role.DOCTOR, Role.SPECIALIST})


class FacilityLevel(StrEnum):
    """Where a facility sits in the hub-and-spoke network."""

    CENTRAL = "central"
    PROVINCIAL = "provincial"
    DISTRICT = "district"
    COMMUNE = "commune"


class Facility(Base):
    """A hospital or health station of the network."""

    __tablename__ = "facilities"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    province: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("facilities.id"), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Ho_Chi_Minh")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Specialty(Base):
    """A clinical specialty that consults and bookings are routed by."""

    __tablename__ = "specialties"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_vi: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))


class User(Base):
    """Someone who can sign in: staff, trainees, and patients with a login."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)
    facility_id: Mapped[str | None] = mapped_column(
        ForeignKey("facilities.id"), nullable=True, index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    roles: Mapped[list[UserRole]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="UserRole.role"
    )

    @property
    def role_set(self) -> frozenset[Role]:
        """The roles as a set (the relationship must have been loaded)."""
        return frozenset(Role(r.role) for r in self.roles)


class UserRole(Base):
    """One role held by one user."""

    __tablename__ = "user_roles"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)


class Patient(Base):
    """A person who receives care; may exist without a login (booked on their behalf).

    National id and insurance number are unique per home facility, not across the
    network: refusing one registered elsewhere would tell staff that a person they cannot
    see is a patient there. Such records are flagged (`patient.possible_duplicate` in the
    audit log) for the merge workflow in docs/security.md.
    """

    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("home_facility_id", "national_id"),
        UniqueConstraint("home_facility_id", "insurance_number"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True, unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    # The name folded for search (telehealth/accounts/folding.py), kept by `_fold_name`.
    search_name: Mapped[str] = mapped_column(String(200), index=True)
    national_id: Mapped[str | None] = mapped_column(String(12), nullable=True, index=True)
    insurance_number: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    date_of_birth: Mapped[date | None] = mapped_column(Date, nullable=True)
    sex: Mapped[str | None] = mapped_column(String(8), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    address: Mapped[str | None] = mapped_column(String(300), nullable=True)
    home_facility_id: Mapped[str | None] = mapped_column(
        ForeignKey("facilities.id"), nullable=True, index=True
    )
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @validates("full_name")
    def _fold_name(self, _key: str, value: str) -> str:
        # Every write of the name refreshes its folded form, so the two never disagree.
        self.search_name = fold(value)
        return value


class Practitioner(Base):
    """A user who can be booked or consulted, with a licence and specialties."""

    __tablename__ = "practitioners"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), unique=True)
    licence_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    years_of_experience: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    specialties: Mapped[list[PractitionerSpecialty]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="PractitionerSpecialty.specialty_code"
    )


class PractitionerSpecialty(Base):
    """One specialty of one practitioner."""

    __tablename__ = "practitioner_specialties"
    practitioner_id: Mapped[str] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE"), primary_key=True
    )
    specialty_code: Mapped[str] = mapped_column(
        ForeignKey("specialties.code"), primary_key=True, index=True
    )
