"""Scheduling: availability rules, derived slots, appointments, reminders and calendars."""
