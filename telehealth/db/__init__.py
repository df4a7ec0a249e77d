"""Storage: the declarative base, the engine lifecycle and the unit of work."""
