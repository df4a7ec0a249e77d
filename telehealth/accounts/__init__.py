"""Facilities, users, patients and practitioners."""
