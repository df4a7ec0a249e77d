"""telehealth: a telemedicine consultation server for a hub-and-spoke health network."""

__version__ = "0.1.0"
