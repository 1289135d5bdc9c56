"""Repository tools (zoo building and training, studies, benchmarks, README refresh): not installed.

Every command here is run as ``python -m scripts.<name>``; importing this package first keeps
TensorFlow's start-up banners off their output (see :func:`vdualib.cli.quiet_tensorflow`).
"""

from vdualib import cli

cli.quiet_tensorflow()
