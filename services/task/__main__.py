"""Run the task unit: `python -m services.task`."""

from services.common.bootstrap import main
from services.task.wiring import SPEC

main(SPEC)
