"""Heartbeats (dead man's switches): models and decisions in models.py, the watch's contract in watch.py."""
