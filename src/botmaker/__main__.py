"""``python -m botmaker``: the same command line as ``botmaker``."""

from botmaker.cli import main

main()
