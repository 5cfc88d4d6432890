"""Putting libcpg's large messages back together (PARTIAL_MCAST, ref totem-wire.md 10.1).

A message above :data:`~totem.services.cpg.interfaces.CPG_MAX_ATOMIC_MSGSIZE` travels as
FIRST, MIDDLE... and LAST fragments; every receiving handle reassembles it per sending
process, as libcpg's ``cpg_assembly_data`` does. What goes wrong is named, not raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from totem.services.cpg.wire import PartialMcast, PartialType

__all__ = ["Assembly", "reassemble"]


@dataclass(slots=True)
class Assembly:
    """libcpg's ``cpg_assembly_data``: a large message being put back together."""

    msglen: int
    data: bytearray = field(default_factory=bytearray)


def reassemble(
    assemblies: dict[tuple[int, int], Assembly], key: tuple[int, int], message: PartialMcast
) -> tuple[bytes | None, str | None]:
    """Add ``message`` to the assembly of ``key`` (sender node, pid).

    Returns the whole message once its LAST fragment is in (else None), and the counter to
    raise when something is wrong: a FIRST that interrupts an assembly, a fragment without
    its FIRST, more bytes than announced, or fewer when the LAST arrives.
    """
    problem = None
    if message.type == PartialType.FIRST:
        if key in assemblies:
            problem = "partial_mcast_interrupted"
        assemblies[key] = Assembly(message.msglen)
    assembly = assemblies.get(key)
    if assembly is None:
        return None, "partial_mcast_without_first"
    assembly.data += message.fragment
    if len(assembly.data) > assembly.msglen:
        del assemblies[key]
        return None, "partial_mcast_overrun"
    if message.type == PartialType.LAST:
        del assemblies[key]
        if len(assembly.data) != assembly.msglen:
            return None, "partial_mcast_short"
        return bytes(assembly.data), problem
    return None, problem
