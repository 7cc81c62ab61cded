"""Paging: who an escalation reaches at each level, and the records of the pages it sends."""
