"""The consult service: filing, triage and answers, one unit of work per use case.

The use cases live by concern in filing.py, triage.py and answers.py; this class puts
them together behind the one name the app and the views use.
"""

from __future__ import annotations

from telehealth.consults.answers import ConsultAnswers, opinion_hash
from telehealth.consults.filing import AMENDABLE, ConsultFiling
from telehealth.consults.triage import ConsultTriage

__all__ = ["AMENDABLE", "ConsultService", "opinion_hash"]


class ConsultService(ConsultFiling, ConsultTriage, ConsultAnswers):
    """Requests, the specialty queues, triage, messages, opinions and deadlines."""
