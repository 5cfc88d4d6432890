"""corosync.conf as Proxmox handles it: parser, writer, generator, propagation rules."""
