"""`python3 -m executor`: the Lambda Runtime API loop (the image's ENTRYPOINT)."""

import sys

from .runtime import main

if __name__ == "__main__":
    sys.exit(main())
