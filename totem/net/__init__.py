"""The layer between the protocol stack and the sockets: redundant rings and crypto.

:mod:`totem.net.rrp` chooses the ring (link) of every outgoing datagram and watches
the rings (passive RRP); :mod:`totem.net.crypto` seals and opens every datagram;
:mod:`totem.net.ringtest` is the wire form of RRP's ring test messages.
"""
