"""The evidence layer: what the studies ask of the loaded data (actors, practices, report).

Platform-agnostic and imports nothing from ``collectors``: what it needs to know about a
platform arrives as data from the caller.
"""
