"""The one place that builds the auth unit's store, clients and servicers."""

from __future__ import annotations

from collections.abc import Mapping

from services.common.bootstrap import Resources, UnitSpec


async def build(resources: Resources) -> Mapping[str, object]:
    """Servicers by service full name; services not listed answer UNIMPLEMENTED."""
    return {}


SPEC = UnitSpec(name="auth", build=build)
