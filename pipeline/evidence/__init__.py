"""The evidence layer: what the studies ask of the loaded data (actors, practice indicators,
the report).

Platform-agnostic: it reads and writes the schema and imports nothing from ``collectors``
(an import-linter contract); what it needs to know about a platform arrives as data from the
caller.
"""
