"""The cluster manager of the seed: Proxmox's pvecm workflows over a replicated configuration
filesystem, as a client of the pycorosync engine (ref cluster-manager.md).

Sub-packages, one concept each:

* :mod:`pvecluster.cfs` -- the replicated filesystem's sans-IO core: memdb (tree, index,
  checksums), its storage backends (sqlite3), the DFSM state machine on a process group and
  the DCDB operations, locks and quorum gating (pmxcfs's data model and message layouts);
* :mod:`pvecluster.corosync` -- corosync.conf as Proxmox reads, writes and generates it, and
  the rules by which a replicated corosync.conf reaches the node's own file;
* :mod:`pvecluster.cfsd` -- ``pycorosync-cfsd``: the asyncio driver of the core on the
  engine's CPG and quorum, the control socket, the engine supervisor and the FUSE mount;
* :mod:`pvecluster.api` -- the HTTPS join API (aiohttp) and its client with fingerprint pinning;
* :mod:`pvecluster.web` -- the "Datacenter -> Cluster" web panel on the same HTTPS server;
* :mod:`pvecluster.pvecm` -- ``pycorosync-pvecm``;
* :mod:`pvecluster.client` -- ``pycorosync-cfs`` and the library both tools use.
"""
