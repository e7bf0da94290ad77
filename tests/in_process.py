"""`hpsearch ARGS` through its real entry point, `hpsearch.cli.main`, inside the test process.

The same parsing, exit codes, stdout and stderr as the console script, without a fresh
interpreter importing TensorFlow, MLflow and pandas again (3-5 s a call on 2 cores). Tests
about the process itself (signals, kill -9, import isolation, a Ray job) keep subprocesses.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path


def hpsearch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `hpsearch ARGS` in ``cwd``; the result reads like ``subprocess.run``'s."""
    from hpsearch.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv, here = sys.argv, os.getcwd()
    sigterm, sigint = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    sys.argv = ["hpsearch", *args]
    os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        sys.argv = argv
        os.chdir(here)
        signal.signal(signal.SIGTERM, sigterm)  # `run` installs its own handlers
        signal.signal(signal.SIGINT, sigint)
    return subprocess.CompletedProcess(["hpsearch", *args], code, out.getvalue(), err.getvalue())
