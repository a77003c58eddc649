"""Real public sample rows the Google and Snap replicas serve (origins in SOURCES.md)."""
