"""``python -m analysis``: the researcher's command line, kept under the name users know. The
command line itself lives in the ``cli`` package; ``analysis`` only computes."""

import sys

from cli import main

if __name__ == "__main__":
    sys.exit(main())
