"""The file client of a node's cfsd (``pycorosync-cfs``) and the library pvecm uses."""
