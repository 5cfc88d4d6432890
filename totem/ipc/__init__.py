"""libqb IPC: the transport of corosync's client libraries (ref libqb-ipc/README.md).

Unmodified programs (corosync's tools, Pacemaker, pmxcfs, corosync-qdevice) reach the node
through libcmap, libcfg, libcpg, libquorum and libvotequorum, which speak libqb 2.0.6 IPC.
This package serves that protocol and knows no service:

* ``wire``       -- headers, the set-up request/response, ``cs_error_t``;
* ``engine``     -- what a service declares (library handlers, per-connection hooks);
* ``dispatch``   -- sans-IO request checks and routing (corosync's ``cs_ipcs_msg_process``);
* ``setup``      -- abstract socket names, credentials, the access rule, per-connection paths;
* ``ringbuffer`` -- the SHM ring buffer on any pair of buffers (sans-IO);
* ``sem``        -- process-shared POSIX semaphores through libc (ctypes);
* ``shm``        -- the SHM transport (three ring buffers in /dev/shm);
* ``sock``       -- the SOCKET transport (datagram sockets and a control file);
* ``server``     -- the asyncio server: listeners, set-up, connections, event queues.

Nothing here is imported at daemon start but ``engine`` (by ``totem.service``).
"""
