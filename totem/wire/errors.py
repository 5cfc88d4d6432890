"""The single error type of the wire codecs (ref totem-wire.md section 4.7).

Every malformed datagram, totempg packet or exec message is rejected with a
:class:`WireError` whose ``reason`` is a short, stable key meant to be used as a
drop counter name by drivers (corosync silently drops such input after a log
line; we drop and count). Reasons used by this package:

``short``              shorter than the fixed part or than its counted entries need
``oversized``          beyond a receive limit (UDP frame, ORF token buffer, MCAST frame,
                       reassembly buffer)
``bad_magic``          magic is neither ``0xC070`` nor its byte swap
``bad_version``        Totem header version is not 3
``bad_type``           Totem message type outside 0-5, or unknown sync message id
``too_many_rtr``       ORF token with more than 30 retransmit entries
``too_many_members``   join list or commit token with more than 384 entries
``bad_memb_index``     commit token ``memb_index`` outside ``0..addr_entries``
``bad_length``         a totempg packet whose length is not exactly what it declares
``bad_count``          a negative or impossible entry count
``not_mcast``          the body of an ENCAPSULATED MCAST is not an MCAST
``bad_fragment``       a totempg packet that cannot be reassembled (no messages but
                       flagged as fragmented)
"""

from __future__ import annotations

__all__ = ["WireError"]


class WireError(ValueError):
    """Malformed wire input; ``reason`` is a stable counter key (see module doc)."""

    reason: str

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
