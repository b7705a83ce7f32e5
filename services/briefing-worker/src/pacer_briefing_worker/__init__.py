"""Pacer's briefing worker: an arq worker that precomputes home briefings and reaps overdue jobs."""
