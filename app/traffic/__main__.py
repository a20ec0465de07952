"""``python -m app.traffic``: the traffic command without building the app."""

import sys

from .command import main

sys.exit(main())
