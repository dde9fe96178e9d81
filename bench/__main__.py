"""Run every benchmark module in bench/ (or the ones named on the command line)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = argv or sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    if not names:
        print("no benchmarks yet")
        return 0
    status = 0
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}")
        status |= int(module.main() or 0)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
