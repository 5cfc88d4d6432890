/*
 * cpglat - CPG delivery latency at a fixed message rate (libcpg; corosync 3.1.7).
 *
 *   cpglat send [-g GROUP] [-r RATE] [-n COUNT] [-s SIZE] [-m MEMBERS] [-t IDLE_S]
 *   cpglat recv [-g GROUP] [-t IDLE_S]
 *
 * Part of pycorosync's benchmarks (bench/corosync.py builds it at run time; never commit the
 * binary).  Every instance joins GROUP (default "cpglat").  The sender waits for MEMBERS
 * members, then multicasts COUNT messages (default 5000) of SIZE bytes (default 100, at least
 * the 32-byte header) with CPG_TYPE_AGREED, paced at RATE messages per second (default 1000),
 * each stamped with CLOCK_MONOTONIC at the call.  Every instance -- the sender included --
 * records, for each delivery, now - stamp: all processes share the machine's monotonic clock
 * (namespaces do not change it).  An instance ends when the last message has been delivered
 * to it, or after IDLE_S seconds (default 10) without a delivery, and prints one line:
 *
 *   cpglat role=recv node=2 msgs=5000 p50_us=... p90_us=... p99_us=... max_us=...
 *     digest=... late=...
 *
 * digest is an FNV-1a hash over the (sender nodeid, seq) delivery order; late counts sends
 * that started more than 2 ms behind the schedule (the generator could not keep the rate).
 */
#include <corosync/cpg.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x74616c63u /* "clat" */

struct msg {
	uint32_t magic, nodeid, pid, seq, total, pad;
	uint64_t stamp_ns;
} __attribute__((packed));

static cpg_handle_t handle;
static uint32_t local_nodeid;
static uint64_t *lat_ns;
static size_t lat_n, lat_cap;
static uint64_t digest = 1469598103934665603ull;
static int members, done;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void hash32(uint32_t v)
{
	for (int i = 0; i < 4; i++) {
		digest ^= (v >> (8 * i)) & 0xff;
		digest *= 1099511628211ull;
	}
}

static void on_deliver(cpg_handle_t h, const struct cpg_name *g, uint32_t nodeid, uint32_t pid,
		       void *data, size_t len)
{
	const struct msg *m = data;
	uint64_t now = mono_ns();
	(void)h; (void)g; (void)pid;
	if (len < sizeof(*m) || m->magic != MAGIC)
		return;
	if (lat_n == lat_cap) {
		lat_cap = lat_cap ? 2 * lat_cap : 8192;
		lat_ns = realloc(lat_ns, lat_cap * sizeof(*lat_ns));
		if (!lat_ns) {
			perror("cpglat: realloc");
			exit(2);
		}
	}
	lat_ns[lat_n++] = now > m->stamp_ns ? now - m->stamp_ns : 0;
	hash32(nodeid);
	hash32(m->seq);
	if (m->seq + 1 == m->total)
		done = 1;
}

static void on_confchg(cpg_handle_t h, const struct cpg_name *g, const struct cpg_address *ml,
		       size_t nml, const struct cpg_address *ll, size_t nll,
		       const struct cpg_address *jl, size_t njl)
{
	(void)h; (void)g; (void)ml; (void)ll; (void)nll; (void)jl; (void)njl;
	members = (int)nml;
}

static cpg_callbacks_t callbacks = { .cpg_deliver_fn = on_deliver, .cpg_confchg_fn = on_confchg };

static void dispatch(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, timeout_ms) > 0) {
		cs_error_t e = cpg_dispatch(handle, CS_DISPATCH_ALL);
		if (e != CS_OK && e != CS_ERR_TRY_AGAIN) {
			fprintf(stderr, "cpglat: cpg_dispatch: %d\n", e);
			exit(2);
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_us(double p)
{
	size_t i;
	if (!lat_n)
		return 0;
	i = (size_t)(p * (double)(lat_n - 1) + 0.5);
	return lat_ns[i] / 1000.0;
}

int main(int argc, char **argv)
{
	const char *group = "cpglat";
	long rate = 1000, count = 5000, size = 100, want_members = 1, idle = 10, late = 0;
	struct cpg_name name;
	cs_error_t e;
	int sender, opt, fd;
	uint64_t last_delivery;

	if (argc < 2 || (strcmp(argv[1], "send") && strcmp(argv[1], "recv"))) {
		fprintf(stderr, "usage: cpglat send|recv [-g group] [-r rate] [-n count] [-s size] "
				"[-m members] [-t idle_s]\n");
		return 2;
	}
	sender = !strcmp(argv[1], "send");
	optind = 2;
	while ((opt = getopt(argc, argv, "g:r:n:s:m:t:")) != -1) {
		switch (opt) {
		case 'g': group = optarg; break;
		case 'r': rate = atol(optarg); break;
		case 'n': count = atol(optarg); break;
		case 's': size = atol(optarg); break;
		case 'm': want_members = atol(optarg); break;
		case 't': idle = atol(optarg); break;
		default: return 2;
		}
	}
	if (size < (long)sizeof(struct msg))
		size = sizeof(struct msg);
	if (rate < 1 || count < 1)
		return 2;
	while ((e = cpg_initialize(&handle, &callbacks)) == CS_ERR_TRY_AGAIN)
		usleep(100000);
	if (e != CS_OK) {
		fprintf(stderr, "cpglat: cpg_initialize: %d\n", e);
		return 1;
	}
	cpg_local_get(handle, &local_nodeid);
	name.length = strlen(group);
	memcpy(name.value, group, name.length);
	while ((e = cpg_join(handle, &name)) == CS_ERR_TRY_AGAIN)
		usleep(100000);
	if (e != CS_OK) {
		fprintf(stderr, "cpglat: cpg_join: %d\n", e);
		return 1;
	}
	cpg_fd_get(handle, &fd);
	last_delivery = mono_ns();
	if (sender) {
		char *buf = calloc(1, size);
		struct msg *m = (struct msg *)buf;
		struct iovec iov = { .iov_base = buf, .iov_len = size };
		uint64_t start, due, period = 1000000000ull / (uint64_t)rate;
		while (members < want_members) {
			dispatch(fd, 100);
			if (mono_ns() - last_delivery > (uint64_t)idle * 1000000000ull) {
				fprintf(stderr, "cpglat: only %d/%ld members\n", members, want_members);
				return 1;
			}
		}
		m->magic = MAGIC;
		m->nodeid = local_nodeid;
		m->pid = getpid();
		m->total = count;
		start = mono_ns();
		for (long i = 0; i < count;) {
			uint64_t now = mono_ns();
			due = start + (uint64_t)i * period;
			if (now < due) {
				long wait_ms = (long)((due - now) / 1000000ull);
				dispatch(fd, wait_ms);
				continue;
			}
			if (now > due + 2000000ull)
				late++;
			m->seq = i;
			m->stamp_ns = mono_ns();
			e = cpg_mcast_joined(handle, CPG_TYPE_AGREED, &iov, 1);
			if (e == CS_OK)
				i++;
			else if (e == CS_ERR_TRY_AGAIN)
				dispatch(fd, 0);
			else {
				fprintf(stderr, "cpglat: cpg_mcast_joined: %d\n", e);
				return 1;
			}
		}
	}
	last_delivery = mono_ns();
	while (!done) {
		size_t before = lat_n;
		dispatch(fd, 100);
		if (lat_n != before)
			last_delivery = mono_ns();
		else if (mono_ns() - last_delivery > (uint64_t)idle * 1000000000ull)
			break;
	}
	qsort(lat_ns, lat_n, sizeof(*lat_ns), cmp_u64);
	printf("cpglat role=%s node=%u msgs=%zu p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f "
	       "digest=%016" PRIx64 " late=%ld\n",
	       sender ? "send" : "recv", local_nodeid, lat_n, pct_us(0.50), pct_us(0.90),
	       pct_us(0.99), lat_n ? lat_ns[lat_n - 1] / 1000.0 : 0.0, digest, late);
	cpg_leave(handle, &name);
	cpg_finalize(handle);
	return done ? 0 : 1;
}
