"""The installed commands (``vdualib-train``, ``vdualib-evaluate``, ...): thin front ends.

Each module parses arguments and calls the library; the logic lives in the library, where tests
reach it. Repository-only tools (zoo building, README refresh, benchmarks) stay in ``scripts/``
and are not installed.
"""
