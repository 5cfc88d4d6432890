"""CPG, corosync's closed process group service (service id 2), sans-IO."""
