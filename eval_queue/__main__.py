"""``python -m eval_queue``: see eval_queue.cli."""

import sys

from eval_queue.cli import main

if __name__ == "__main__":
    sys.exit(main())
