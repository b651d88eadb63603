"""Allow ``python -m cohortsim``."""

import sys

from cohortsim.cli import main

sys.exit(main())
