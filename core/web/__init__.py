"""The only Flask-aware part of core: extensions, security headers, logging, errors, htmx helpers."""
