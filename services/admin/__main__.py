"""Run the admin unit: `python -m services.admin`."""

from services.admin.wiring import SPEC
from services.common.bootstrap import main

main(SPEC)
