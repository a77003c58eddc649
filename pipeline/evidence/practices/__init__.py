"""Practice indicators: message tests (stored clusters) and the views that read them."""
