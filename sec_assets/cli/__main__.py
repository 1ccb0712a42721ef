"""``python -m sec_assets.cli``: the same as ``sec-assets``."""

import sys

from sec_assets.cli import main

sys.exit(main())
