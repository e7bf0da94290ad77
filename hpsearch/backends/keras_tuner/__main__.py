"""``python -m hpsearch.backends.keras_tuner --role chief|worker ...``: a parallel search's
child process (see ``child.child_main``)."""

from hpsearch.backends.keras_tuner.child import child_main

if __name__ == "__main__":
    raise SystemExit(child_main())
