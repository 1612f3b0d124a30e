"""``python -m kiln.serving.replica CONFIG.json``: the command line the replica launcher starts."""

import logging
import os
import sys

from kiln.serving.replica.process import main

if __name__ == "__main__":
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    # A scoring thread still inside init() or run() must not hold the exit.
    os._exit(code)
