"""Run the persona unit: `python -m services.persona`."""

from services.common.bootstrap import main
from services.persona.wiring import SPEC

main(SPEC)
