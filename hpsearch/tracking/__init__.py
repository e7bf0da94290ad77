"""MLflow tracking: the only package that imports mlflow (always lazily, inside functions).

``store`` holds the URI, the client and the experiment; ``tracker`` the parent and child
runs of a search; ``read`` rebuilds searches and trial tables from those runs; ``lease``
is the sweep's lock; ``artifacts`` logs models, reports and lr-find sweeps and reads a
search back for a refit; ``served_model.py`` is the code every logged model carries.
The names below are the package's interface, as ``hpsearch.tracking`` always offered it.
"""

from __future__ import annotations

from hpsearch.errors import NoSearches, SweepLocked, TrackingUnavailable
from hpsearch.tracking.artifacts import (
    FINAL_MODEL_NAME,
    load_search_for_refit,
    log_final_model,
    log_lr_find,
    log_report,
    log_served_model,
    report_tag,
)
from hpsearch.tracking.lease import lease, sweep_states
from hpsearch.tracking.read import load_searches, load_trials, run_experiment
from hpsearch.tracking.store import (
    DEFAULT_TRACKING_URI,
    EXPERIMENT_KIND_TAG,
    INTERRUPTED,
    MODEL_TRAINING,
    MODEL_TRAINING_VIEW,
    OUTPUT_TAG,
    PARENT_TAG,
    ROLE_TAG,
    TRIAL_TAG,
    ensure_experiment,
    preflight,
    redact_uri,
    resolve_tracking_uri,
    serve_ui,
    store_label,
    ui_page,
)
from hpsearch.tracking.tracker import MlflowTracker, trial_run_name

__all__ = [
    "DEFAULT_TRACKING_URI",
    "EXPERIMENT_KIND_TAG",
    "FINAL_MODEL_NAME",
    "INTERRUPTED",
    "MODEL_TRAINING",
    "MODEL_TRAINING_VIEW",
    "OUTPUT_TAG",
    "PARENT_TAG",
    "ROLE_TAG",
    "TRIAL_TAG",
    "MlflowTracker",
    "NoSearches",
    "SweepLocked",
    "TrackingUnavailable",
    "ensure_experiment",
    "lease",
    "load_search_for_refit",
    "load_searches",
    "load_trials",
    "log_final_model",
    "log_lr_find",
    "log_report",
    "log_served_model",
    "preflight",
    "redact_uri",
    "report_tag",
    "resolve_tracking_uri",
    "run_experiment",
    "serve_ui",
    "store_label",
    "sweep_states",
    "trial_run_name",
    "ui_page",
]
