"""``python -m nrm.cli ARGS`` is ``nrm ARGS`` (how the study and the allocator child start runs)."""

import sys

from nrm.cli.main import main

sys.exit(main())
