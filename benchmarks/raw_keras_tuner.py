"""The baseline for benchmarks/overhead.py: the search a user would write by hand.

A plain Keras Tuner script over the same space as search_spaces/digits.yaml, on the same
arrays (hpsearch's loader, so the split and scaling are identical and only orchestration
differs), with the same seed, trials and epochs, and no tracking. Like the book's script
(Hands-On ML 10.3: ``get_best_models`` right after ``search``), it loads the best model at
the end, as ``hpsearch run`` does before logging it: the same work, bar the tracking.

    python benchmarks/raw_keras_tuner.py random|hyperband|bayesian [--trials 10] [--epochs 10]
        [--freeze]

``--freeze`` adds the one trick hpsearch plays on top (``gc.freeze()`` before the search,
see hpsearch.model.settle_heap), to show what hpsearch's own orchestration costs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("strategy", choices=["random", "hyperband", "bayesian"])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--freeze", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()

    import keras
    import keras_tuner as kt

    from hpsearch.data import load_dataset
    from hpsearch.space import load_space

    space = load_space(
        os.path.join(os.path.dirname(__file__), "..", "search_spaces", "digits.yaml")
    )
    data = load_dataset(space.dataset, args.seed)

    def build(hp: kt.HyperParameters) -> keras.Model:
        # Declared in the space file's order, as hpsearch does: the same seed samples the
        # same configurations, so both sides train the same models.
        n_hidden = hp.Int("n_hidden", 1, 3, default=2)
        n_neurons = hp.Int("n_neurons", 16, 256, sampling="log", default=64)
        lr = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log", default=1e-3)
        optimizers = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam,
                      "nadam": keras.optimizers.Nadam}  # fmt: skip
        optimizer = optimizers[hp.Choice("optimizer", list(optimizers))]
        dropout = hp.Float("dropout", 0.0, 0.3, step=0.1)
        hp.Choice("batch_size", [32, 64])
        keras.utils.set_random_seed(args.seed)
        model = keras.Sequential([keras.Input(shape=data.input_shape)])
        for _ in range(n_hidden):
            model.add(keras.layers.Dense(n_neurons, activation="relu"))
            if dropout > 0:
                model.add(keras.layers.Dropout(dropout))
        model.add(keras.layers.Dense(data.n_outputs, activation="softmax"))
        model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer(lr),
                      metrics=["accuracy"])  # fmt: skip
        return model

    class HyperModel(kt.HyperModel):
        def build(self, hp: kt.HyperParameters) -> keras.Model:
            return build(hp)

        def fit(
            self, hp: kt.HyperParameters, model: keras.Model, *a: object, **kw: object
        ) -> object:
            return model.fit(*a, batch_size=hp.get("batch_size"), **kw)

    common = {"objective": "val_accuracy", "seed": args.seed, "overwrite": True,
              "directory": tempfile.mkdtemp(), "project_name": "raw"}  # fmt: skip
    if args.strategy == "random":
        tuner = kt.RandomSearch(HyperModel(), max_trials=args.trials, **common)
    elif args.strategy == "bayesian":
        tuner = kt.BayesianOptimization(HyperModel(), max_trials=args.trials, num_initial_points=3,
                                        alpha=1e-4, beta=2.6, **common)  # fmt: skip
    else:
        tuner = kt.Hyperband(HyperModel(), max_epochs=args.epochs, factor=3, **common)
        tuner.oracle.max_trials = args.trials
    if args.freeze:
        gc.collect()
        gc.freeze()
    tuner.search(data.x_train, data.y_train, validation_data=(data.x_valid, data.y_valid),
                 epochs=args.epochs, verbose=0,
                 callbacks=[keras.callbacks.EarlyStopping("val_accuracy", patience=3)])  # fmt: skip
    best = tuner.oracle.get_best_trials(1)[0]
    tuner.get_best_models(num_models=1)[0]
    print(json.dumps({"strategy": args.strategy, "best": best.score,
                      "trials": len(tuner.oracle.trials),
                      "seconds": time.perf_counter() - started}))  # fmt: skip
    sys.stdout.flush()


if __name__ == "__main__":
    main()
