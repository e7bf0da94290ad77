def build_model(hp):
    hp.Int("units", 32, 256)  # the space declares 'unit', not 'units'
    raise AssertionError("a builder is never called by validate")


def two_args(params, input_shape):
    raise AssertionError("a builder is never called by validate")
