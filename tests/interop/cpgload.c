/*
 * cpgload: agreed-order load and order check over libcpg, for the interop tests.
 *
 *   cpgload send [-g GROUP] [-n COUNT] [-s SIZE] [-m MEMBERS] [-S SENDERS] [-t IDLE]
 *   cpgload recv [-g GROUP] [-S SENDERS] [-t IDLE]
 *
 * pycorosync's own libcpg client (tests/interop/cpgtools.py compiles it with gcc against
 * Debian's libcpg-dev; the binary is never committed).  It speaks the protocol of
 * tests/interop/pycpg.py, its Python twin for our nodes, so that a mixed ring carries both:
 *
 * - every process joins GROUP (default "cpgload");
 * - a sender waits until the group has MEMBERS members (default 1), then multicasts COUNT
 *   (default 10000) messages of SIZE bytes (default 100, at least the 20-byte header) in
 *   agreed order, as fast as libcpg's flow control lets it (CS_ERR_TRY_AGAIN: dispatch,
 *   then try again), and stays until its own messages are back and SENDERS senders
 *   (default 1) have delivered their last message;
 * - a receiver stays until SENDERS senders have delivered their last message;
 * - either gives up after IDLE seconds (default 10) without a delivery.
 *
 * A message starts with five little-endian u32: magic "cpgl" (0x6370676c), the sender's
 * node id, its pid, seq (0..COUNT-1) and COUNT.  Each process hashes the (node id, pid, seq)
 * of every delivery, in delivery order, with 64-bit FNV-1a over their little-endian bytes
 * (the start value is pycpg.py's FNV_OFFSET, so both print the same digest for one order):
 * processes that saw one agreed order print one digest.  misorder counts deliveries whose
 * seq is not the one after that sender's previous.  The report, one line on stdout:
 *
 *   cpgload role=R node=N msgs=M bytes=B secs=S rate=Xmsg/s mbps=Y misorder=K digest=D
 *     members=P [sent=C size=Z send_secs=T tryagain=A own_delivered=O]
 *
 * secs spans the first to the last delivery; members is the largest group size seen.
 * Exit status 0 when everything expected arrived, 1 otherwise, 2 on a usage error.
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

enum { HEADER_BYTES = 20, MAX_SOURCES = 256 };
static const uint32_t LOAD_MAGIC = 0x6370676cu;
static const uint64_t FNV64_OFFSET = 1469598103934665603ull; /* pycpg.py's FNV_OFFSET */
static const uint64_t FNV64_PRIME = 1099511628211ull;

struct options {
	int sender;
	const char *group;
	long count, size, members, senders, idle;
};

struct source { /* one sending process, as seen in the deliveries */
	uint32_t nodeid, pid, expected;
};

struct tally {
	uint32_t nodeid, pid;
	uint64_t msgs, bytes, own, misorder, digest;
	long finished; /* senders whose last message was delivered */
	int group_size, group_size_max;
	double first, last;
	struct source sources[MAX_SOURCES];
	int nsources;
};

static struct tally tally;
static cpg_handle_t cpg;

static double monotonic(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t value)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(value >> (8 * i));
}

static void hash_le32(uint32_t value)
{
	for (int shift = 0; shift < 32; shift += 8) {
		tally.digest ^= (value >> shift) & 0xffu;
		tally.digest *= FNV64_PRIME;
	}
}

static struct source *source_of(uint32_t nodeid, uint32_t pid)
{
	for (int i = 0; i < tally.nsources; i++)
		if (tally.sources[i].nodeid == nodeid && tally.sources[i].pid == pid)
			return &tally.sources[i];
	if (tally.nsources == MAX_SOURCES)
		return NULL;
	struct source *added = &tally.sources[tally.nsources++];
	added->nodeid = nodeid;
	added->pid = pid;
	added->expected = 0;
	return added;
}

static void on_deliver(cpg_handle_t handle, const struct cpg_name *group, uint32_t nodeid,
		       uint32_t pid, void *data, size_t length)
{
	const unsigned char *bytes = data;
	(void)handle;
	(void)group;
	if (length < HEADER_BYTES || get_le32(bytes) != LOAD_MAGIC)
		return; /* not ours */
	uint32_t seq = get_le32(bytes + 12), total = get_le32(bytes + 16);
	tally.last = monotonic();
	if (tally.msgs == 0)
		tally.first = tally.last;
	tally.msgs++;
	tally.bytes += length;
	hash_le32(nodeid);
	hash_le32(pid);
	hash_le32(seq);
	if (nodeid == tally.nodeid && pid == tally.pid)
		tally.own++;
	struct source *from = source_of(nodeid, pid);
	if (from != NULL) {
		if (seq != from->expected)
			tally.misorder++;
		from->expected = seq + 1;
	}
	if (seq + 1 == total)
		tally.finished++;
}

static void on_confchg(cpg_handle_t handle, const struct cpg_name *group,
		       const struct cpg_address *members, size_t nmembers,
		       const struct cpg_address *left, size_t nleft,
		       const struct cpg_address *joined, size_t njoined)
{
	(void)handle; (void)group; (void)members; (void)left; (void)nleft; (void)joined;
	(void)njoined;
	tally.group_size = (int)nmembers;
	if (tally.group_size > tally.group_size_max)
		tally.group_size_max = tally.group_size;
}

/* Wait up to timeout_ms for the library's fd, then run the callbacks that are there. */
static void dispatch(int fd, int timeout_ms)
{
	struct pollfd watch = { .fd = fd, .events = POLLIN };
	if (poll(&watch, 1, timeout_ms) <= 0)
		return;
	cs_error_t err = cpg_dispatch(cpg, CS_DISPATCH_ALL);
	if (err != CS_OK && err != CS_ERR_TRY_AGAIN) {
		fprintf(stderr, "cpgload: cpg_dispatch failed (%d)\n", err);
		exit(1);
	}
}

/* Dispatch until done() says so, or idle seconds pass without a delivery. */
static void drain(int fd, const struct options *opt, int (*done)(const struct options *))
{
	double quiet_since = monotonic();
	while (!done(opt)) {
		uint64_t before = tally.msgs;
		dispatch(fd, 100);
		if (tally.msgs != before)
			quiet_since = monotonic();
		else if (monotonic() - quiet_since > (double)opt->idle)
			return;
	}
}

static int sender_done(const struct options *opt)
{
	return tally.own >= (uint64_t)opt->count && tally.finished >= opt->senders;
}

static int receiver_done(const struct options *opt)
{
	return tally.finished >= opt->senders;
}

static int usage(void)
{
	fputs("usage: cpgload send|recv [-g group] [-n count] [-s size] [-m members] "
	      "[-S senders] [-t idle_seconds]\n", stderr);
	return 2;
}

static int parse(int argc, char **argv, struct options *opt)
{
	opt->group = "cpgload";
	opt->count = 10000;
	opt->size = 100;
	opt->members = 1;
	opt->senders = 1;
	opt->idle = 10;
	if (argc < 2)
		return -1;
	if (strcmp(argv[1], "send") == 0)
		opt->sender = 1;
	else if (strcmp(argv[1], "recv") == 0)
		opt->sender = 0;
	else
		return -1;
	for (int i = 2; i < argc; i += 2) {
		const char *flag = argv[i];
		if (i + 1 >= argc || strlen(flag) != 2 || flag[0] != '-')
			return -1;
		const char *value = argv[i + 1];
		char *end;
		long number = strtol(value, &end, 10);
		if (flag[1] == 'g') {
			opt->group = value;
			continue;
		}
		if (*value == '\0' || *end != '\0' || number < 0)
			return -1;
		switch (flag[1]) {
		case 'n': opt->count = number; break;
		case 's': opt->size = number; break;
		case 'm': opt->members = number; break;
		case 'S': opt->senders = number; break;
		case 't': opt->idle = number; break;
		default: return -1;
		}
	}
	if (strlen(opt->group) > CPG_MAX_NAME_LENGTH - 1 || opt->count > UINT32_MAX)
		return -1;
	if (opt->size < HEADER_BYTES)
		opt->size = HEADER_BYTES;
	return 0;
}

int main(int argc, char **argv)
{
	struct options opt;
	if (parse(argc, argv, &opt) != 0)
		return usage();

	cpg_callbacks_t callbacks = { .cpg_deliver_fn = on_deliver, .cpg_confchg_fn = on_confchg };
	struct cpg_name name;
	cs_error_t err;
	int fd;
	memset(&name, 0, sizeof(name));
	name.length = (uint32_t)strlen(opt.group);
	memcpy(name.value, opt.group, name.length);
	tally.digest = FNV64_OFFSET;
	tally.pid = (uint32_t)getpid();

	while ((err = cpg_initialize(&cpg, &callbacks)) == CS_ERR_TRY_AGAIN)
		usleep(100 * 1000);
	if (err != CS_OK) {
		fprintf(stderr, "cpgload: cpg_initialize failed (%d): no corosync here?\n", err);
		return 1;
	}
	if (cpg_local_get(cpg, &tally.nodeid) != CS_OK || cpg_fd_get(cpg, &fd) != CS_OK) {
		fputs("cpgload: cpg_local_get/cpg_fd_get failed\n", stderr);
		return 1;
	}
	while ((err = cpg_join(cpg, &name)) == CS_ERR_TRY_AGAIN)
		usleep(100 * 1000);
	if (err != CS_OK) {
		fprintf(stderr, "cpgload: cpg_join failed (%d)\n", err);
		return 1;
	}

	uint64_t tryagain = 0;
	double send_secs = 0;
	if (opt.sender) {
		double waiting_since = monotonic();
		while (tally.group_size < opt.members) {
			dispatch(fd, 100);
			if (monotonic() - waiting_since > (double)opt.idle) {
				fprintf(stderr, "cpgload: %d of %ld members after %ld s\n",
					tally.group_size, opt.members, opt.idle);
				return 1;
			}
		}
		unsigned char *message = calloc(1, (size_t)opt.size);
		if (message == NULL)
			return 1;
		struct iovec iov = { .iov_base = message, .iov_len = (size_t)opt.size };
		put_le32(message, LOAD_MAGIC);
		put_le32(message + 4, tally.nodeid);
		put_le32(message + 8, tally.pid);
		put_le32(message + 16, (uint32_t)opt.count);
		double started = monotonic();
		long seq = 0;
		while (seq < opt.count) {
			put_le32(message + 12, (uint32_t)seq);
			err = cpg_mcast_joined(cpg, CPG_TYPE_AGREED, &iov, 1);
			if (err == CS_ERR_TRY_AGAIN) {
				tryagain++;
				dispatch(fd, 1);
				continue;
			}
			if (err != CS_OK) {
				fprintf(stderr, "cpgload: cpg_mcast_joined failed (%d)\n", err);
				return 1;
			}
			seq++;
			if (seq % 64 == 0)
				dispatch(fd, 0); /* keep the deliveries flowing while we send */
		}
		send_secs = monotonic() - started;
		free(message);
		drain(fd, &opt, sender_done);
	} else {
		drain(fd, &opt, receiver_done);
	}

	double secs = tally.last - tally.first;
	printf("cpgload role=%s node=%" PRIu32 " msgs=%" PRIu64 " bytes=%" PRIu64 " secs=%.3f"
	       " rate=%.0fmsg/s mbps=%.2f misorder=%" PRIu64 " digest=%016" PRIx64 " members=%d",
	       opt.sender ? "send" : "recv", tally.nodeid, tally.msgs, tally.bytes, secs,
	       secs > 0 ? (double)tally.msgs / secs : 0.0,
	       secs > 0 ? (double)tally.bytes * 8 / secs / 1e6 : 0.0, tally.misorder,
	       tally.digest, tally.group_size_max);
	if (opt.sender)
		printf(" sent=%ld size=%ld send_secs=%.3f tryagain=%" PRIu64 " own_delivered=%" PRIu64,
		       opt.count, opt.size, send_secs, tryagain, tally.own);
	printf("\n");
	fflush(stdout);
	cpg_leave(cpg, &name);
	cpg_finalize(cpg);
	int missing = (opt.sender && tally.own < (uint64_t)opt.count) || tally.finished < opt.senders;
	return missing ? 1 : 0;
}
