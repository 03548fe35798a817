"""``python -m console`` is ``taskconsole``."""

import sys

from console.cli.main import main

sys.exit(main())
