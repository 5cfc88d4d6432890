"""Finding the node's service engines (DESIGN.md: "as corosync loads its service engines").

Each entry point of the ``pycorosync.services`` group names a factory
``factory(context) -> Service | None``; ``None`` means "not configured here"
(votequorum when ``quorum.provider`` is something else). ``totem`` itself
never imports a service package.
"""

from __future__ import annotations

from totem.node.entrypoints import entry_points
from totem.service import Service, ServiceContext, ServiceFactory

__all__ = ["ENTRY_POINT_GROUP", "ServiceContext", "ServiceFactory", "load_services"]

ENTRY_POINT_GROUP = "pycorosync.services"


def load_services(context: ServiceContext, group: str = ENTRY_POINT_GROUP) -> list[Service]:
    """Instantiate every configured service, in ascending service id order."""
    services: list[Service] = []
    for entry_point in entry_points(group=group):
        factory: ServiceFactory = entry_point.load()
        service = factory(context)
        if service is not None:
            services.append(service)
    services.sort(key=lambda service: service.service_id)
    seen: set[int] = set()
    for service in services:
        if service.service_id in seen:
            raise ValueError(f"two services claim service id {service.service_id}")
        seen.add(service.service_id)
    return services
