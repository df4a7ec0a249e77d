"""FHIR R4 read API: the records of the other features mapped to FHIR resources.

`mapping` turns the API views of accounts and scheduling into `fhir.resources.R4B`
models (which validate them), `directory` reads what has no use case elsewhere
(practitioners, organizations, schedules, slots), and `views` serves `/fhir/...`.
"""
