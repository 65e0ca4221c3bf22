"""Kept for old habits: ``python scripts/bench.py [--quick]`` is ``nrm bench [--quick]``."""

import sys

from nrm.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
