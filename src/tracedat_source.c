/*
 * trace.dat -> struct krt_report_record, through libtracecmd/libtraceevent.
 *
 * `trace-cmd report` renders every field of every event through the
 * kernel's print formats, and the import then parses that text back: most
 * of an import's time went into the round trip. Here the fields of the
 * contract are read straight from the binary records: each event of the
 * contract gets its field descriptors looked up once (by id), and a record
 * becomes the same struct krt_report_record the text parser makes, so the
 * normaliser and engine see no difference but the timestamps' precision
 * (nanoseconds here, microseconds in trace-cmd's text).
 *
 * Decoding runs on a thread of its own, a few batches of records ahead of
 * the caller's normaliser and engine (bounded: BATCHES x BATCH_RECORDS), so
 * that the two halves use two cores as the text pipeline's two processes
 * do; the records keep their order.
 *
 * Robustness: a file that is not a trace.dat, or one libtracecmd cannot
 * open (truncated headers), is refused with a message naming it; field
 * reads are bounded by the record's size; missed-event counts of the
 * ring buffer become LOST records, as trace-cmd's drop markers would.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <trace-cmd.h>
#include "addr.h"
#include "tracedat_source.h"

#define AF_INET_NUM 2
#define AF_INET6_NUM 10

#define BATCH_RECORDS 1024
#define BATCHES 4

struct batch {
	unsigned int n;
	struct krt_report_record r[BATCH_RECORDS];
};

/* Decoded records on their way to the caller's thread, in order. */
struct queue {
	pthread_mutex_t lock;
	pthread_cond_t filled, emptied;
	struct batch *b;		/* BATCHES */
	unsigned int head, tail, count; /* count: batches filled, not yet consumed */
	bool done;
};

/* The fields of one event of the contract, found once. */
struct ev_fields {
	int kind; /* enum krt_rp_kind; KRT_RP_SKIP: not of the contract */
	int sys;
	struct tep_format_field *prev_pid, *next_pid, *prev_state, *prev_comm, *next_comm;
	struct tep_format_field *pid, *parent_pid, *child_pid, *child_comm;
	struct tep_format_field *fd, *size, *nr, *ret;
	struct tep_format_field *sport, *dport, *family, *saddr, *daddr, *saddr_v6, *daddr_v6;
	struct tep_format_field *oldstate, *newstate, *data_len, *cookie, *skaddr;
	struct tep_format_field *go_g, *goid, *skip, *proc;
};

struct reader {
	struct tracecmd_input *h;
	struct tep_handle *tep;
	struct ev_fields *ev; /* indexed by event id */
	int n_ev;
	struct krt_report_parser *counts; /* the decoding thread's until it ends */
	struct queue q;
	int rc;
};

/* Decoding thread: one record into the batch being filled (b[tail], ours while count < BATCHES). */
static void push(struct reader *rd, const struct krt_report_record *r)
{
	struct queue *q = &rd->q;
	struct batch *b = &q->b[q->tail];

	b->r[b->n++] = *r;
	if (b->n < BATCH_RECORDS)
		return;
	pthread_mutex_lock(&q->lock);
	q->count++;
	q->tail = (q->tail + 1) % BATCHES;
	pthread_cond_signal(&q->filled);
	while (q->count == BATCHES)
		pthread_cond_wait(&q->emptied, &q->lock);
	pthread_mutex_unlock(&q->lock);
	q->b[q->tail].n = 0;
}

bool krt_tracedat_is(const char *path)
{
	char head[KRT_TRACEDAT_MAGIC_LEN];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, head, sizeof(head));
	close(fd);
	/* a file cut inside the magic is a truncated trace.dat too: no text starts with \027\010 */
	return n >= 2 && !memcmp(head, KRT_TRACEDAT_MAGIC, (size_t)n);
}

static bool field_ok(const struct tep_format_field *f, const struct tep_record *rec)
{
	return f && f->offset >= 0 && f->size > 0 && f->offset + f->size <= rec->size;
}

static bool num(struct tep_format_field *f, const struct tep_record *rec, unsigned long long *v)
{
	if (!field_ok(f, rec))
		return false;
	return tep_read_number_field(f, rec->data, v) == 0;
}

/* A signed field of any width, sign-extended. */
static bool snum(struct tep_format_field *f, const struct tep_record *rec, long long *v)
{
	unsigned long long u;

	if (!num(f, rec, &u))
		return false;
	if (f->size < 8 && (f->flags & TEP_FIELD_IS_SIGNED) && (u >> (f->size * 8 - 1)) & 1)
		u |= ~0ULL << (f->size * 8);
	*v = (long long)u;
	return true;
}

/* Bytes of an array field, or of a __data_loc (dynamic) one; NULL if out of bounds. */
static const unsigned char *bytes(struct tep_format_field *f, const struct tep_record *rec,
				  int *len)
{
	if (!field_ok(f, rec))
		return NULL;
	if (f->flags & TEP_FIELD_IS_DYNAMIC) {
		unsigned long long loc;
		int off, n;

		if (tep_read_number_field(f, rec->data, &loc))
			return NULL;
		off = (int)(loc & 0xffff);
		n = (int)((loc >> 16) & 0xffff);
		if (f->flags & TEP_FIELD_IS_RELATIVE)
			off += f->offset + f->size;
		if (off < 0 || off + n > rec->size)
			return NULL;
		*len = n;
		return (const unsigned char *)rec->data + off;
	}
	*len = f->size;
	return (const unsigned char *)rec->data + f->offset;
}

static void comm_field(struct tep_format_field *f, const struct tep_record *rec, char *out)
{
	int n = 0, i;
	const unsigned char *b = bytes(f, rec, &n);

	out[0] = '\0';
	if (!b)
		return;
	for (i = 0; i < n && i < KRT_COMM_LEN - 1 && b[i]; i++)
		out[i] = (char)b[i];
	out[i] = '\0';
}

static bool pid_field(struct tep_format_field *f, const struct tep_record *rec, __u32 *out)
{
	long long v;

	if (!snum(f, rec, &v) || v < 0 || v > 0x7fffffff)
		return false;
	*out = (__u32)v;
	return true;
}

/* An address array: 4 bytes (IPv4) or 16 (IPv6) as the field holds them. */
static bool ip_field(struct tep_format_field *f, const struct tep_record *rec, struct krt_addr *a,
		     int want)
{
	int n = 0;
	const unsigned char *b = bytes(f, rec, &n);

	if (!b || n < want)
		return false;
	a->family = want == 4 ? KRT_AF_INET : KRT_AF_INET6;
	memcpy(a->addr, b, (size_t)want);
	return true;
}

/* tcp_probe's saddr/daddr: a struct sockaddr_in / sockaddr_in6 as bytes. */
static bool sockaddr_field(struct tep_format_field *f, const struct tep_record *rec,
			   struct krt_addr *a)
{
	int n = 0;
	const unsigned char *b = bytes(f, rec, &n);
	unsigned int fam;

	if (!b || n < 8)
		return false;
	fam = b[0] | (unsigned int)b[1] << 8;
	a->port = (__u16)(b[2] << 8 | b[3]);
	if (fam == AF_INET_NUM) {
		a->family = KRT_AF_INET;
		memcpy(a->addr, b + 4, 4);
		return true;
	}
	if (fam == AF_INET6_NUM && n >= 24) {
		a->family = KRT_AF_INET6;
		memcpy(a->addr, b + 8, 16);
		return true;
	}
	return false;
}

static struct tep_format_field *field(struct tep_event *e, const char *name)
{
	return tep_find_field(e, name);
}

static void describe(struct ev_fields *f, struct tep_event *e)
{
	int sys = 0;

	memset(f, 0, sizeof(*f));
	f->kind = krt_rp_event_kind(e->name, strlen(e->name), &sys);
	f->sys = sys;
	if (f->kind == KRT_RP_SKIP)
		return;
	f->prev_pid = field(e, "prev_pid");
	f->next_pid = field(e, "next_pid");
	f->prev_state = field(e, "prev_state");
	f->prev_comm = field(e, "prev_comm");
	f->next_comm = field(e, "next_comm");
	f->pid = field(e, "pid");
	f->parent_pid = field(e, "parent_pid");
	f->child_pid = field(e, "child_pid");
	f->child_comm = field(e, "child_comm");
	f->fd = field(e, "fd");
	f->size = field(e, "count");
	if (!f->size)
		f->size = field(e, "size");
	if (!f->size)
		f->size = field(e, "len");
	f->nr = field(e, "__syscall_nr");
	f->ret = field(e, "ret");
	f->sport = field(e, "sport");
	f->dport = field(e, "dport");
	f->family = field(e, "family");
	f->saddr = field(e, "saddr");
	f->daddr = field(e, "daddr");
	f->saddr_v6 = field(e, "saddr_v6");
	f->daddr_v6 = field(e, "daddr_v6");
	f->oldstate = field(e, "oldstate");
	f->newstate = field(e, "newstate");
	f->data_len = field(e, "data_len");
	f->cookie = field(e, "sock_cookie");
	f->skaddr = field(e, "skaddr");
	f->go_g = field(e, "g");
	f->goid = field(e, "goid");
	f->skip = field(e, "skip");
	f->proc = field(e, "proc");
}

/* A goroutine event (report_parser.h): the same checks as the text's. */
static bool fill_go(const struct ev_fields *f, const struct tep_record *rec,
		    struct krt_report_record *r)
{
	unsigned long long v;
	long long s;

	if (!num(f->go_g, rec, &v) || !v || !snum(f->proc, rec, &s))
		return false;
	r->go_g = v;
	r->go_proc = (__u64)s;
	if (r->kind == KRT_RP_GO_EXECUTE && (!snum(f->goid, rec, &s) || s <= 0))
		return false;
	r->go_goid = r->kind == KRT_RP_GO_EXECUTE ? s : 0;
	if (r->kind == KRT_RP_GO_READY) {
		if (!snum(f->skip, rec, &s))
			return false;
		r->go_skip = s;
	}
	return true;
}

/* The addresses of a tcp event; false: the record lacks what the contract needs. */
static bool tcp_tuple(const struct ev_fields *f, const struct tep_record *rec,
		      struct krt_report_record *r)
{
	unsigned long long fam = AF_INET_NUM, sp, dp;
	struct krt_tuple *t = &r->tuple;

	if (!num(f->sport, rec, &sp) || !num(f->dport, rec, &dp))
		return false;
	if (f->family && !num(f->family, rec, &fam))
		return false;
	if (r->kind == KRT_RP_TCP_PROBE) {
		if (!sockaddr_field(f->saddr, rec, &t->local) ||
		    !sockaddr_field(f->daddr, rec, &t->remote))
			return false;
	} else if (fam == AF_INET6_NUM && f->saddr_v6 && f->daddr_v6) {
		if (!ip_field(f->saddr_v6, rec, &t->local, 16) ||
		    !ip_field(f->daddr_v6, rec, &t->remote, 16))
			return false;
	} else if (fam == AF_INET_NUM) {
		if (!ip_field(f->saddr, rec, &t->local, 4))
			return false;
		if (!ip_field(f->daddr, rec, &t->remote, 4))
			t->remote.family = KRT_AF_INET; /* a listening socket */
	} else {
		return false;
	}
	t->local.port = (__u16)sp;
	t->remote.port = (__u16)dp;
	krt_addr_unmap_v4(&t->local);
	krt_addr_unmap_v4(&t->remote);
	r->has |= KRT_RP_HAS_ADDR;
	return true;
}

/* Fills r from rec; false: a field of the contract is missing (counted malformed). */
static bool fill(const struct ev_fields *f, const struct tep_record *rec,
		 struct krt_report_record *r)
{
	unsigned long long v;
	long long s;

	switch (f->kind) {
	case KRT_RP_GO_EXECUTE:
	case KRT_RP_GO_START:
	case KRT_RP_GO_READY:
		return fill_go(f, rec, r);
	case KRT_RP_SWITCH:
		if (!pid_field(f->prev_pid, rec, &r->prev_pid) ||
		    !pid_field(f->next_pid, rec, &r->next_pid))
			return false;
		if (snum(f->prev_state, rec, &s))
			r->prev_state = s & 0xff; /* 0x100: preempted, still runnable */
		comm_field(f->prev_comm, rec, r->prev_comm);
		comm_field(f->next_comm, rec, r->next_comm);
		return true;
	case KRT_RP_FORK:
		if (!pid_field(f->child_pid, rec, &r->child_pid))
			return false;
		comm_field(f->child_comm, rec, r->child_comm);
		if (!pid_field(f->parent_pid ? f->parent_pid : f->pid, rec, &r->pid) || !r->pid)
			r->pid = r->tid;
		return true;
	case KRT_RP_EXIT:
		if (!pid_field(f->pid, rec, &r->pid))
			r->pid = r->tid;
		return true;
	case KRT_RP_WAKEUP:
		return pid_field(f->pid, rec, &r->pid);
	case KRT_RP_SYS_ENTER:
		if (!num(f->fd, rec, &v))
			return false;
		r->fd = (__s32)(__u32)v;
		if (num(f->size, rec, &v)) {
			r->size = v;
			r->has |= KRT_RP_HAS_SIZE;
		}
		if (num(f->nr, rec, &v))
			r->syscall_nr = (__u32)v;
		return true;
	case KRT_RP_SYS_EXIT:
		if (!snum(f->ret, rec, &s))
			return false;
		r->ret = s;
		if (num(f->nr, rec, &v))
			r->syscall_nr = (__u32)v;
		return true;
	case KRT_RP_SOCK_STATE:
		if (!snum(f->oldstate, rec, &s))
			return false;
		r->oldstate = (__s32)s;
		if (!snum(f->newstate, rec, &s))
			return false;
		r->newstate = (__s32)s;
		break;
	case KRT_RP_TCP_PROBE:
		if (num(f->data_len, rec, &v)) {
			r->data_len = (__u32)v;
			r->has |= KRT_RP_HAS_DATA_LEN;
		}
		break;
	}
	/* tcp events */
	if (num(f->cookie, rec, &v)) {
		r->sock_cookie = v;
		r->has |= KRT_RP_HAS_COOKIE;
	}
	if (num(f->skaddr, rec, &v)) {
		r->skaddr = v;
		r->has |= KRT_RP_HAS_SKADDR;
	}
	return tcp_tuple(f, rec, r);
}

static int on_record(struct tracecmd_input *h, struct tep_record *rec, int cpu, void *data)
{
	struct reader *rd = data;
	struct krt_report_parser *c = rd->counts;
	struct krt_report_record r;
	const struct ev_fields *f;
	int id, pid;

	c->lines++;
	c->lineno++;
	if (rec->missed_events) {
		/* the ring buffer overwrote or dropped events before this one */
		memset(&r, 0, sizeof(r));
		r.kind = KRT_RP_LOST;
		r.lost = rec->missed_events > 0 ? (__u64)rec->missed_events : 1;
		c->lost_events += r.lost;
		push(rd, &r);
	}
	id = tep_data_type(rd->tep, rec);
	if (id < 0 || id >= rd->n_ev || rd->ev[id].kind == KRT_RP_SKIP) {
		c->unknown_events++;
		return 0;
	}
	f = &rd->ev[id];
	memset(&r, 0, sizeof(r));
	r.ts_ns = rec->ts;
	r.cpu = (__u32)cpu;
	pid = tep_data_pid(rd->tep, rec);
	r.tid = pid > 0 ? (__u32)pid : 0;
	{
		const char *comm = tep_data_comm_from_pid(rd->tep, pid);

		if (comm) {
			strncpy(r.comm, comm, KRT_COMM_LEN - 1);
			r.comm[KRT_COMM_LEN - 1] = '\0';
		}
	}
	r.kind = f->kind;
	r.sys = f->sys;
	r.fd = -1;
	if (!fill(f, rec, &r)) {
		c->malformed++;
		if (c->diag && c->malformed <= KRT_RP_MAX_REPORTED)
			fprintf(c->diag,
				"%s: record %llu (%s at %llu ns): fields of the contract "
				"missing or out of bounds\n",
				c->name, (unsigned long long)c->lineno, krt_rp_kind_name(f->kind),
				(unsigned long long)rec->ts);
		return 0;
	}
	c->records++;
	push(rd, &r);
	(void)h;
	return 0;
}

static void *decode(void *arg)
{
	struct reader *rd = arg;
	struct queue *q = &rd->q;

	rd->rc = tracecmd_iterate_events(rd->h, NULL, 0, on_record, rd);
	pthread_mutex_lock(&q->lock);
	if (q->b[q->tail].n) {
		q->count++;
		q->tail = (q->tail + 1) % BATCHES;
	}
	q->done = true;
	pthread_cond_signal(&q->filled);
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* The caller's thread: hands the decoded records to fn, batch by batch, until the end. */
static void consume(struct reader *rd, krt_rp_record_fn fn, void *ctx)
{
	struct queue *q = &rd->q;

	for (;;) {
		const struct batch *b;
		unsigned int i;

		pthread_mutex_lock(&q->lock);
		while (!q->count && !q->done)
			pthread_cond_wait(&q->filled, &q->lock);
		if (!q->count) {
			pthread_mutex_unlock(&q->lock);
			return;
		}
		b = &q->b[q->head];
		pthread_mutex_unlock(&q->lock);
		for (i = 0; i < b->n; i++)
			fn(&b->r[i], ctx);
		pthread_mutex_lock(&q->lock);
		q->head = (q->head + 1) % BATCHES;
		q->count--;
		pthread_cond_signal(&q->emptied);
		pthread_mutex_unlock(&q->lock);
	}
}

/* Decodes on a thread of its own while fn runs here. */
static int iterate(struct reader *rd, krt_rp_record_fn fn, void *ctx)
{
	struct queue *q = &rd->q;
	pthread_t tid;

	q->b = calloc(BATCHES, sizeof(*q->b));
	if (!q->b)
		return -1;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->filled, NULL);
	pthread_cond_init(&q->emptied, NULL);
	if (pthread_create(&tid, NULL, decode, rd)) {
		free(q->b);
		return -1;
	}
	consume(rd, fn, ctx);
	pthread_join(tid, NULL);
	pthread_cond_destroy(&q->filled);
	pthread_cond_destroy(&q->emptied);
	pthread_mutex_destroy(&q->lock);
	free(q->b);
	return rd->rc;
}

int krt_tracedat_read(const char *path, struct krt_report_parser *counts, krt_rp_record_fn fn,
		      void *ctx, char *err, size_t errlen)
{
	struct tracecmd_input *h;
	struct tep_event **events;
	struct reader rd;
	struct stat st;
	int i, max_id = -1, rc;

	memset(&rd, 0, sizeof(rd));
	if (stat(path, &st)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!krt_tracedat_is(path)) {
		snprintf(err, errlen, "%s: not a trace.dat (no trace-cmd file magic)", path);
		return -1;
	}
	tracecmd_set_loglevel(TEP_LOG_NONE);
	tep_set_loglevel(TEP_LOG_NONE);
	h = tracecmd_open(path, TRACECMD_FL_LOAD_NO_PLUGINS | TRACECMD_FL_LOAD_NO_SYSTEM_PLUGINS);
	if (!h) {
		snprintf(err, errlen,
			 "%s: trace.dat cannot be read: truncated or corrupt (libtracecmd could "
			 "not open it)",
			 path);
		return -1;
	}
	rd.tep = tracecmd_get_tep(h);
	events = rd.tep ? tep_list_events(rd.tep, TEP_EVENT_SORT_ID) : NULL;
	if (!events) {
		snprintf(err, errlen, "%s: trace.dat has no event formats", path);
		tracecmd_close(h);
		return -1;
	}
	for (i = 0; events[i]; i++)
		if (events[i]->id > max_id)
			max_id = events[i]->id;
	rd.n_ev = max_id + 1;
	rd.ev = calloc((size_t)rd.n_ev + 1, sizeof(*rd.ev));
	if (!rd.ev) {
		snprintf(err, errlen, "%s: out of memory", path);
		tracecmd_close(h);
		return -1;
	}
	for (i = 0; events[i]; i++)
		if (events[i]->id >= 0)
			describe(&rd.ev[events[i]->id], events[i]);
	rd.h = h;
	rd.counts = counts;
	counts->bytes = (__u64)st.st_size;
	rc = iterate(&rd, fn, ctx);
	free(rd.ev);
	tracecmd_close(h);
	if (rc < 0) {
		snprintf(err, errlen, "%s: reading the trace.dat's events failed (truncated?)",
			 path);
		return -1;
	}
	return 0;
}
