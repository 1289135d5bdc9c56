"""Command-line front ends over vdualib, installed as ``vdualib.scripts`` for the entry points."""
