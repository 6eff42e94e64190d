"""tradingd's dashboard layer: a Streamlit app and an offline HTML report over the store.

It reads the SQLite store read-only and imports ``state`` and ``daemon`` (the report's
figures, the bundled prices); nothing below it imports this package. The CLI reaches it
as a subprocess (``python -m dashboard serve|report``): see docs/architecture.md.
"""
