"""Specialist consults ("hội chẩn từ xa"): requests, the shared specialty queues, answers
and deadlines."""
