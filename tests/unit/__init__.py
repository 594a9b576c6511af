"""Fast tests of pure parts: translators, URL and definition logic. No engine, no server
of our own; ``pytest tests/unit`` runs in seconds."""
