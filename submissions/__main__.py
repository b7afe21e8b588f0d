"""``python -m submissions``: see submissions.cli."""

import sys

from submissions.cli import main

if __name__ == "__main__":
    sys.exit(main())
