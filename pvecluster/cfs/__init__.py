"""The replicated configuration filesystem's core, sans-IO (pmxcfs's memdb, DFSM and DCDB)."""
