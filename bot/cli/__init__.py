"""The terminal front end: ``generate`` and ``models`` from the command line."""
