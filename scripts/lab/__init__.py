"""The lab: what produces this repository's published results, on top of the library.

The controlled study of the dual IB (``dualib_study``) and the sweeps of one recipe field
(``sweep``); the cross-model comparison of the zoo (``comparison``); the analytical,
information-plane and NTK studies (``ib_study``, ``information_study``, ``ntk_study``) and the
benchmarks (``information_benchmark``, ``ntk_benchmark``); the zoo's building (``zoo_building``:
release files, cards, registry, targets and tables). The commands in ``scripts/`` drive them
(``python -m scripts.<name> --help``). Not installed: ``vdualib`` never imports it.
"""
