#!/usr/bin/env bash
# record.sh OUTDIR - record real corosync 3.1.7 CPG behaviour for tests/cpg (root; see README.md).
#
# Three real nodes (udpu, private namespaces cpgx*), six cpgprobe clients, and a pcap of all
# Totem traffic, through: joins in two groups, a small and a 2.1 MB (partial_mcast) message,
# a leave followed by a rejoin attempt on the same handle, a crash of node 3 (NODEDOWN),
# its restart (joinlist sync), and a partition of node 2 and its merge (NODEUP).
set -euo pipefail
OUT=${1:?usage: record.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
export RC_PREFIX=cpgx RC_STATE=/run/realcluster-cpgx RC_SUBNET=10.99.77 RC_MCASTADDR=239.192.77.1
export RC_DEBUG=on
RC=$(cd "$HERE/../../../.." && pwd)/shared/tools/realcluster.sh
mkdir -p "$OUT"
PROBE=$OUT/cpgprobe
gcc -O2 -Wall -Wextra -o "$PROBE" "$HERE/cpgprobe.c" -lcpg
trap '$RC down --keep "$OUT/cluster" >/dev/null 2>&1 || true' EXIT

$RC up 3 udpu
$RC wait --members 3
$RC capture start "$OUT/cpg.pcap" udp
sleep 1
# t=0: probes. Steps: j join, l leave, m:N mcast N bytes, s:T dispatch T s.
$RC spawn 1 probeA "$PROBE" -i g j s:1.0 m:100 s:2.0 l s:0.5 j m:10 s:1000
$RC spawn 2 probeB "$PROBE" g s:0.5 j s:1.0 m:2100000 s:3.0 m:50 s:1000
$RC spawn 3 probeC "$PROBE" g s:0.2 j s:1000
$RC spawn 3 probeD "$PROBE" g s:0.3 j s:1000
$RC spawn 2 probeE "$PROBE" h s:0.6 j s:1000
sleep 6
$RC kill 3 KILL                      # crash: survivors see C and D go (NODEDOWN)
$RC wait --nodes "1 2" --members 2 --timeout 30
sleep 2
$RC start 3                          # fresh node 3, no processes: joinlist sync
$RC wait --members 3 --timeout 30
sleep 2
$RC isolate 2                        # partition {1,3} | {2}
$RC wait --nodes "1 3" --members 2 --members-only --timeout 30
$RC spawn 1 probeF "$PROBE" g j s:1000
sleep 2
$RC rejoin 2                         # merge: joinlists rebuild membership (NODEUP)
$RC wait --members 3 --timeout 30
sleep 2
$RC capture stop
for f in "$RC_STATE"/nodes/*/log/probe*.log; do cp "$f" "$OUT/"; done
for n in 1 2 3; do cp "$RC_STATE/nodes/cpgx$n/log/corosync.log" "$OUT/corosync-cpgx$n.log" || true; done
cp "$RC_STATE/events" "$OUT/events"
echo "recorded in $OUT"
