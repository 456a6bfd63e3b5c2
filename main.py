"""`python main.py` is the same as `stimstudio`."""

import sys

from stimstudio.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
