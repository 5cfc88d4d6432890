"""kronosnet (libknet 1.25) as corosync 3.1.7 uses it: the link layer under SRP, sans-IO.

corosync 3's default transport is knet (``transport: knet``, or no ``transport`` at
all). This package speaks libknet 1.25's "onwire v1" packets byte for byte
(ref knet/README.md), so a pycorosync node sits in a ring of real corosync 3 nodes:

* :mod:`.constants` -- sizes and limits of ``libknet/onwire.h``, ``internals.h``;
* :mod:`.wire` -- the packet codec (DATA, PING/PONG, PMTUD/PMTUD_REPLY);
* :mod:`.mtu` -- the MTU arithmetic of ``onwire.c`` (data MTU clear and with crypto);
* :mod:`.crypto` -- salt | AES-CBC | HMAC, the nss and openssl models' common format;
* :mod:`.compress` -- the compression models (zlib, lz4, lz4hc, lzma, bzip2, zstd);
* :mod:`.seqring` -- the per-source delivered-seq window (dedup) of ``host.c``;
* :mod:`.defrag` -- out-of-order defragmentation (``threads_rx.c:pckt_defrag``);
* :mod:`.link` -- one link of a host: ping/pong, latency, link up/down;
* :mod:`.pmtud` -- path MTU discovery (``threads_pmtud.c``);
* :mod:`.host` -- one host: its links, link policy, reachability;
* :mod:`.handle` -- a knet handle: hosts, transmit and receive, the heartbeat;
* :mod:`.layer` -- what corosync's ``totemknet.c`` adds: the Totem host filter on
  ``target_nodeid``, the loopback link, the driver contract the node stack uses.

Every object here is a plain sans-IO core (DESIGN.md): datagrams and ``now`` in,
datagrams, events and one deadline out; the salts (IVs) come from an injected source.
"""
