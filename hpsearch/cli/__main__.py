"""``python -m hpsearch.cli``: the same command as the console script."""

from hpsearch.cli import main

if __name__ == "__main__":
    main()
