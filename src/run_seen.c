/*
 * What a run saw (run_seen.h). Per event: one compare for most events, a
 * short scan of a few addresses for receives (the last one matched is
 * tried first), and a PID scan on the import path only until a listed
 * PID shows up.
 */
#include <inttypes.h>
#include <string.h>
#include "addr.h"
#include "run_seen.h"

void krt_seen_init(struct krt_seen *s, const struct krt_pids *pids, bool check_pids)
{
	memset(s, 0, sizeof(*s));
	s->pids = pids;
	s->check_pids = check_pids && pids && pids->n;
}

static bool listed(const struct krt_pids *pids, __u32 pid)
{
	size_t i;

	for (i = 0; i < pids->n; i++)
		if (pids->v[i].pid == pid)
			return true;
	return false;
}

static void count_pid(struct krt_seen *s, __u32 pid)
{
	int i, least = 0;

	for (i = 0; i < KRT_SEEN_PIDS; i++) {
		if (s->pid[i].pid == pid || !s->pid[i].n) {
			s->pid[i].pid = pid;
			s->pid[i].n++;
			return;
		}
		if (s->pid[i].n < s->pid[least].n)
			least = i;
	}
	/* full: the rarest makes room (a rough top list is enough for a hint) */
	s->pid[least].pid = pid;
	s->pid[least].n = 1;
}

static void count_addr(struct krt_seen *s, const struct krt_addr *a)
{
	struct krt_addr ip = *a;
	int i;

	ip.port = 0;
	for (i = 0; i < KRT_SEEN_ADDRS; i++) {
		if (!s->addr[i].n) {
			s->addr[i].ip = ip;
			s->addr[i].n = 1;
			return;
		}
		if (krt_ip_eq(&s->addr[i].ip, &ip)) {
			s->addr[i].n++;
			return;
		}
	}
	s->other_addrs++;
}

void krt_seen_event(struct krt_seen *s, const struct krt_event *ev)
{
	s->events++;
	if (s->check_pids && !s->listed_pid_seen && ev->tid) {
		/* import events carry the thread id only (pid 0) */
		if (listed(s->pids, ev->tid) || (ev->pid && listed(s->pids, ev->pid)))
			s->listed_pid_seen = true;
		else
			count_pid(s, ev->pid ? ev->pid : ev->tid);
	}
	if (ev->type == KRT_EV_XFER && ev->xfer.dir == KRT_DIR_RECV &&
	    ev->xfer.tuple.remote.family) {
		s->recvs++;
		count_addr(s, &ev->xfer.tuple.remote);
	}
}

static bool is_container_ip(const struct krt_pids *pids, const struct krt_addr *ip)
{
	size_t i;

	for (i = 0; pids && i < pids->n; i++)
		if (krt_ip_eq(&pids->v[i].ip, ip))
			return true;
	return false;
}

bool krt_seen_warn_pids(const struct krt_seen *s, FILE *f, const char *prog)
{
	int i;

	if (!s->check_pids || s->listed_pid_seen || !s->events)
		return false;
	fprintf(f,
		"%s: WARNING: none of the %zu listed PIDs is in the input (a stale PIDs "
		"file?): threads are named and charged by address only; the input's PIDs "
		"include:",
		prog, s->pids->n);
	for (i = 0; i < KRT_SEEN_PIDS && s->pid[i].n; i++)
		fprintf(f, " %u (%" PRIu64 " events)", s->pid[i].pid, (uint64_t)s->pid[i].n);
	fputc('\n', f);
	return true;
}

void krt_seen_explain(const struct krt_seen *s, FILE *f, const char *prog,
		      const struct krt_addr *gateway)
{
	char ip[KRT_ADDR_STRLEN], gw[KRT_ADDR_STRLEN];
	int i, shown = 0;

	krt_ip_str(gateway, gw, sizeof(gw));
	fprintf(f,
		"%s: WARNING: no trace from %" PRIu64 " events: no request from gateway %s "
		"reached the traced processes\n",
		prog, (uint64_t)s->events, gw);
	krt_seen_warn_pids(s, f, prog);
	for (i = 0; i < KRT_SEEN_ADDRS && s->addr[i].n; i++) {
		if (is_container_ip(s->pids, &s->addr[i].ip))
			continue;
		if (!shown++)
			fprintf(f,
				"%s: addresses that sent to the traced processes (not a "
				"listed container):",
				prog);
		fprintf(f, " %s (%" PRIu64 " receives)", krt_ip_str(&s->addr[i].ip, ip, sizeof(ip)),
			(uint64_t)s->addr[i].n);
	}
	if (shown)
		fprintf(f, "%s\n%s: is one of them the gateway (-g)?\n",
			s->other_addrs ? " and others" : "", prog);
	else if (!s->recvs)
		fprintf(f, "%s: the traced processes received nothing over TCP\n", prog);
	else
		fprintf(
		    f, "%s: only the listed containers sent to each other (%" PRIu64 " receives)\n",
		    prog, (uint64_t)s->recvs);
}
