"""`python -m mtmm_es ...` is the `mtmm` command."""

import sys

from mtmm_es.cli import main

sys.exit(main())
