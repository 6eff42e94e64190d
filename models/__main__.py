"""`python -m models [flags]`: the training entry point, also under
`torchrun --nproc_per_node=N -m models [flags]` (flags: `models.cli`, as `tradingd train`).

An entry module of its own, so that under torchrun no module runs twice per rank (once as
``__main__`` and once imported by name).
"""

import sys

from models.cli import train_main

sys.exit(train_main(sys.argv[1:]))
