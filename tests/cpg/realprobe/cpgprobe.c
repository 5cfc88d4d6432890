/*
 * cpgprobe - a scripted libcpg client that prints every callback it gets.
 *
 * Used once, against real corosync 3.1.7 nodes, to record the callback
 * sequences and exec message bytes that tests/cpg/test_real_corosync.py holds
 * our CpgService to (see tests/cpg/realprobe/README.md).
 *
 *   cpgprobe [-i] GROUP STEP...
 *     -i        CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF
 *     j         cpg_join(GROUP)                 prints "join <cs_error>"
 *     l         cpg_leave(GROUP)                prints "leave <cs_error>"
 *     m:N       cpg_mcast_joined N bytes        prints "mcast <cs_error>"
 *     s:SECS    dispatch callbacks for SECS seconds
 *     w:FILE    dispatch until FILE exists
 *     t:FILE    create FILE
 *     f         cpg_finalize and exit
 *
 * Payload byte i of a message of N bytes is (i * 7 + N) & 0xff. Output lines:
 *   confchg GROUP members=N/P/R,... left=... joined=...
 *   deliver GROUP N/P len=L sum=FNV1A64
 *   totem RING members=N,...
 */
#include <corosync/cpg.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static cpg_handle_t handle;
static struct cpg_name group;

static void print_addrs(const char *label, const struct cpg_address *list, size_t n)
{
	size_t i;
	printf(" %s=", label);
	for (i = 0; i < n; i++) {
		printf("%s%u/%u/%u", i ? "," : "", list[i].nodeid, list[i].pid, list[i].reason);
	}
}

static void confchg_fn(cpg_handle_t h, const struct cpg_name *g,
	const struct cpg_address *members, size_t nmembers,
	const struct cpg_address *left, size_t nleft,
	const struct cpg_address *joined, size_t njoined)
{
	(void)h;
	printf("confchg %.*s", (int)g->length, g->value);
	print_addrs("members", members, nmembers);
	print_addrs("left", left, nleft);
	print_addrs("joined", joined, njoined);
	printf("\n");
}

static void deliver_fn(cpg_handle_t h, const struct cpg_name *g, uint32_t nodeid,
	uint32_t pid, void *msg, size_t len)
{
	uint64_t sum = 1469598103934665603ull;
	size_t i;
	(void)h;
	for (i = 0; i < len; i++) {
		sum = (sum ^ ((unsigned char *)msg)[i]) * 1099511628211ull;
	}
	printf("deliver %.*s %u/%u len=%zu sum=%016" PRIx64 "\n", (int)g->length, g->value,
		nodeid, pid, len, sum);
}

static void totem_fn(cpg_handle_t h, struct cpg_ring_id ring_id, uint32_t n,
	const uint32_t *members)
{
	uint32_t i;
	(void)h;
	printf("totem %x.%" PRIx64 " members=", ring_id.nodeid, ring_id.seq);
	for (i = 0; i < n; i++) {
		printf("%s%u", i ? "," : "", members[i]);
	}
	printf("\n");
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void dispatch_for(double secs, const char *until_file)
{
	int fd;
	double end = now() + secs;
	struct stat st;
	cpg_fd_get(handle, &fd);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (until_file == NULL && now() >= end) {
			return;
		}
		if (until_file != NULL && stat(until_file, &st) == 0) {
			return;
		}
		if (poll(&p, 1, 20) > 0) {
			cpg_dispatch(handle, CS_DISPATCH_ALL);
		}
	}
}

int main(int argc, char **argv)
{
	cpg_model_v1_data_t model = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = deliver_fn,
		.cpg_confchg_fn = confchg_fn,
		.cpg_totem_confchg_fn = totem_fn,
		.flags = 0,
	};
	int argi = 1;
	cs_error_t err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "-i") == 0) {
		model.flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF;
		argi++;
	}
	if (argc <= argi) {
		fprintf(stderr, "usage: cpgprobe [-i] GROUP STEP...\n");
		return 2;
	}
	group.length = strlen(argv[argi]);
	memcpy(group.value, argv[argi], group.length);
	argi++;
	err = cpg_model_initialize(&handle, CPG_MODEL_V1, (cpg_model_data_t *)&model, NULL);
	if (err != CS_OK) {
		printf("initialize %d\n", err);
		return 1;
	}
	printf("pid %d\n", (int)getpid());
	for (; argi < argc; argi++) {
		const char *step = argv[argi];
		if (strcmp(step, "j") == 0) {
			printf("join %d\n", cpg_join(handle, &group));
		} else if (strcmp(step, "l") == 0) {
			printf("leave %d\n", cpg_leave(handle, &group));
		} else if (strncmp(step, "m:", 2) == 0) {
			size_t n = strtoul(step + 2, NULL, 10), i;
			unsigned char *buf = malloc(n ? n : 1);
			struct iovec iov = { .iov_base = buf, .iov_len = n };
			for (i = 0; i < n; i++) {
				buf[i] = (unsigned char)(i * 7 + n);
			}
			do {
				err = cpg_mcast_joined(handle, CPG_TYPE_AGREED, &iov, 1);
				if (err == CS_ERR_TRY_AGAIN) {
					dispatch_for(0.01, NULL);
				}
			} while (err == CS_ERR_TRY_AGAIN);
			printf("mcast %d\n", err);
			free(buf);
		} else if (strncmp(step, "s:", 2) == 0) {
			dispatch_for(atof(step + 2), NULL);
		} else if (strncmp(step, "w:", 2) == 0) {
			dispatch_for(0, step + 2);
		} else if (strncmp(step, "t:", 2) == 0) {
			FILE *f = fopen(step + 2, "w");
			if (f) {
				fclose(f);
			}
		} else if (strcmp(step, "f") == 0) {
			printf("finalize %d\n", cpg_finalize(handle));
			return 0;
		} else {
			fprintf(stderr, "bad step %s\n", step);
			return 2;
		}
	}
	dispatch_for(1e9, NULL);
	return 0;
}
