"""Bringing your own data: import files into the lake, backfill from Yahoo, list what is stored."""
