"""``python -m harness.tasks``: see harness.tasks.cli."""

import sys

from harness.tasks.cli import main

if __name__ == "__main__":
    sys.exit(main())
