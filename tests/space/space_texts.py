"""Space-file texts shared by the tests of hpsearch.space."""

# Line numbers of the expected errors in test_space_loading count from this five-line base.
BASE = (
    "name: t\n"  # 1
    "dataset:\n"  # 2
    "  name: digits\n"  # 3
    "hyperparameters:\n"  # 4
    "  n_hidden: {int: [1, 3]}\n"  # 5
)
