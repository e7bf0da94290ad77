"""Tracking helpers that need no MLflow store."""

from __future__ import annotations

import pytest

from hpsearch.tracking import redact_uri


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://bob:s3cr3t@mlflow.example:5000/", "https://***@mlflow.example:5000/"),
        ("hpsearch run x --tracking-uri http://tok@h:5000 --seed 1",
         "hpsearch run x --tracking-uri http://***@h:5000 --seed 1"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("sqlite:///data/a@b.db", "sqlite:///data/a@b.db"),  # a path, not credentials
        ("databricks://profile", "databricks://profile"),
    ],
)  # fmt: skip
def test_redact_uri_hides_credentials_embedded_in_a_uri(text: str, expected: str) -> None:
    assert redact_uri(text) == expected
