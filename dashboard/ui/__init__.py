"""The Streamlit script (``app.py``), kept in a folder of its own: Streamlit puts the
script's folder first on ``sys.path``, and this one holds nothing that could shadow a
top-level module."""
