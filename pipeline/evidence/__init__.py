"""The evidence layer: actors, practice indicators and the report, on top of the loaded data.

Platform-agnostic: it reads and writes the schema and imports nothing from ``collectors``.
"""
