"""Run the analytics unit: `python -m services.analytics`."""

from services.analytics.wiring import SPEC
from services.common.bootstrap import main

main(SPEC)
