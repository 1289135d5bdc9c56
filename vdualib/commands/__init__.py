"""The installed commands, thin front ends that users run on their own models and data:
``vdualib-train`` (a recipe), ``vdualib-evaluate`` (a model file or zoo name) and
``vdualib-quickstart`` (a first model in minutes).

Each module parses arguments and calls the library, where the logic and its tests live.
"""
