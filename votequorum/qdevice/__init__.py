"""The qdevice-net client of pycorosync (corosync-qdevice 3.0.3, ref qnetd-protocol.md 5-9).

* ``settings``   -- corosync.conf ``quorum.device`` -> client settings, start-up refusals
* ``events``     -- outputs for the driver, events, disconnect reasons
* ``replies``    -- what qnetd sends, checked as the real client checks it
* ``requests``   -- the node lists the client sends
* ``castvote``   -- the cast-vote timer: qnetd votes -> votequorum polls
* ``algorithms`` -- the client side of ffsplit, lms, 2nodelms, test
* ``net_client`` -- the sans-IO client core
* ``bridge``     -- qdevice <-> votequorum (register, master_wins, callbacks, polls)
* ``heuristics`` -- the ``exec_*`` commands and their runner
* ``driver``     -- asyncio: TCP, STARTTLS, timer
* ``agent``      -- the node daemon's ``qdevice`` agent (``pycorosync.agents``)
* ``status``, ``tool`` -- ``pycorosync-qdevice-tool -s [-v] [--json]``

See README.md in this directory for the set-up.
"""
