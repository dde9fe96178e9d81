"""Run the speech unit: `python -m services.speech`."""

from services.common.bootstrap import main
from services.speech.wiring import SPEC

main(SPEC)
