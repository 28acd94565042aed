"""Triage: the policy's phrases, the matcher and the urgency it gives with its reasons."""
