"""Teaching sessions: scheduling, enrolment, the floor in the room, attendance, certificates."""
