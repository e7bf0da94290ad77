"""Engine-free trial recording that both engines share: the error line a failed trial
shows, and the NaN rule that fails a trial whose objective went NaN or infinite."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hpsearch.trials import NAN_ERROR


def error_line(text: str | None) -> str:
    """The innermost ``XError: message`` line of a traceback (Ray wraps the cause in its
    own), without the exception's module path: ``keras_tuner.src.errors.FailedTrialError:
    x`` -> ``FailedTrialError: x``. Keras Tuner's NaN failure reads as on Ray."""
    lines = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    if not lines:
        return "trial failed"
    line = lines[-1]
    for candidate in reversed(lines):
        head = candidate.split(":", 1)[0]
        if head.endswith(("Error", "Exception")) and " " not in head:
            line = candidate
            break
    kind, sep, message = line.partition(": ")
    if " " in kind:  # not an exception's name: a plain last line
        return line
    if kind.endswith("FailedTrialError") and message == NAN_ERROR:
        return NAN_ERROR
    return kind.rsplit(".", 1)[-1] + sep + message


def objective_of(values: Sequence[float], direction: str) -> float | None:
    """A trial's objective from its per-epoch values: the best epoch's, or None when any
    epoch went NaN or infinite (or none ran), which fails the trial with NAN_ERROR."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite or len(finite) < len(values):
        return None
    return max(finite) if direction == "max" else min(finite)
