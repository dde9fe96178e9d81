"""Run the auth unit: `python -m services.auth`."""

from services.auth.wiring import SPEC
from services.common.bootstrap import main

main(SPEC)
