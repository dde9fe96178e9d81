"""Run the agent unit: `python -m services.agent`."""

from services.agent.wiring import SPEC
from services.common.bootstrap import main

main(SPEC)
