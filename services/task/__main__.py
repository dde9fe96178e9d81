"""Run the task unit: `python -m services.task`."""

import gc

from services.common.bootstrap import main
from services.task.wiring import SPEC

# What the imports built (descriptors, modules) lives as long as the process: left to the collector, every
# full collection walks all of it and stalls the event loop for a tenth of a second, under load too.
gc.freeze()
main(SPEC)
