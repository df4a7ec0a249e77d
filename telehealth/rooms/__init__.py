"""Rooms: lifecycle and state machine, the live registry, the event log, outcomes and the
media relay. Filled in by the live-room issues; it imports neither socketio nor aiohttp."""
