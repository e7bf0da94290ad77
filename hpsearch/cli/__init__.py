"""The ``hpsearch`` command: a thin Typer shell over hpsearch's library functions.

Heavy libraries are imported inside the commands that need them, so ``--help`` and
``validate`` never import tensorflow, keras_tuner, ray or mlflow. ``shell`` holds the app
and ``main()``; the commands live by what they do in ``search``, ``read`` and ``tools``.
"""

from __future__ import annotations

from hpsearch.cli.shell import app, main

__all__ = ["app", "main"]
