"""`python -m app.cli`: the same as the `convscope` command."""

import sys

from app.cli import main

sys.exit(main())
