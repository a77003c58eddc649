"""`adlib report`: a per-country static report (HTML, SVG charts, CSV data, manifest)."""
