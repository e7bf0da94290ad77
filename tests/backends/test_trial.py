"""Engine-free trial recording: the error line and the NaN rule both engines use."""

from __future__ import annotations

import math

from hpsearch.backends.trial import error_line, objective_of
from hpsearch.trials import NAN_ERROR


def test_the_error_line_is_the_innermost_exception_without_its_module() -> None:
    kt = "Traceback (most recent call last):\n  File x\nkeras_tuner.src.errors.FailedTrialError: no"
    assert error_line(kt) == "FailedTrialError: no"
    ray = (
        "ray.exceptions.RayTaskError(ValueError): ray::train()\n"
        "  File y\nValueError: bad shape\n  (during handling)"
    )
    assert error_line(ray) == "ValueError: bad shape"
    assert error_line(f"keras_tuner.errors.FailedTrialError: {NAN_ERROR}") == NAN_ERROR
    assert error_line(None) == "trial failed" and error_line("  \n ") == "trial failed"
    assert error_line("the worker died") == "the worker died"


def test_the_nan_rule_fails_a_trial_with_any_non_finite_epoch() -> None:
    assert objective_of([0.5, 0.7, 0.6], "max") == 0.7
    assert objective_of([0.5, 0.3], "min") == 0.3
    assert objective_of([0.5, math.nan], "max") is None
    assert objective_of([math.inf], "min") is None
    assert objective_of([], "max") is None
