"""`python -m bench [--quick] [--only NAME,...]`."""

import sys

from bench.runner import main

if __name__ == "__main__":
    sys.exit(main())
