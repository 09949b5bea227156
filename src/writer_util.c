/* Helpers shared by the output writers. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "dec_digits.h"
#include "writer_util.h"

const struct krt_thread_stat *krt_trace_thread(const struct krt_trace *t, __u32 tid)
{
	size_t i;

	for (i = 0; i < t->n_threads; i++)
		if (t->threads[i].tid == tid)
			return &t->threads[i];
	return NULL;
}

/*
 * Task names are chosen by the traced program: control bytes (an escape
 * sequence aimed at the reader's terminal) are shown as '?'.
 */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

const char *krt_thread_name(const struct krt_thread_stat *th, char *buf, size_t len)
{
	char comm[KRT_COMM_LEN + 1];

	/* comm comes from the kernel: it may lack the terminating NUL. */
	memcpy(comm, th->comm, KRT_COMM_LEN);
	comm[KRT_COMM_LEN] = '\0';
	if (th->container && th->container[0])
		snprintf(buf, len, "%s/%s[%u]", th->container, comm, th->tid);
	else
		snprintf(buf, len, "%s[%u]", comm, th->tid);
	sanitize(buf);
	return buf;
}

static size_t goid_add(__u32 *out, size_t n, size_t max, __u32 goid)
{
	size_t i;

	if (!goid)
		return n;
	for (i = 0; i < n; i++)
		if (out[i] == goid)
			return n;
	if (n < max)
		out[n++] = goid;
	return n;
}

size_t krt_thread_goids(const struct krt_trace *t, __u32 tid, __u32 *out, size_t max)
{
	size_t i, n = 0;

	for (i = 0; tid && i < t->n_hops; i++) {
		if (t->hops[i].from_tid == tid)
			n = goid_add(out, n, max, t->hops[i].from_goid);
		if (t->hops[i].to_tid == tid)
			n = goid_add(out, n, max, t->hops[i].to_goid);
	}
	return n;
}

const char *krt_node_name(const struct krt_trace *t, __u32 tid, const struct krt_addr *a, char *buf,
			  size_t len)
{
	const struct krt_thread_stat *th;

	if (!tid)
		return krt_addr_str(a, buf, len);
	th = krt_trace_thread(t, tid);
	if (th)
		return krt_thread_name(th, buf, len);
	snprintf(buf, len, "tid %u", tid);
	return buf;
}

struct krt_writer *krt_writer_alloc(const struct krt_writer_ops *ops, FILE *out, void *priv)
{
	struct krt_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->ops = ops;
	w->out = out;
	w->priv = priv;
	return w;
}

void krt_writer_free(struct krt_writer *w)
{
	if (!w)
		return;
	if (w->owns_out && w->out)
		fclose(w->out);
	free(w);
}

static void *dup_array(const void *src, size_t n, size_t size)
{
	void *p;

	if (!n)
		return NULL;
	p = malloc(n * size);
	if (p)
		memcpy(p, src, n * size);
	return p;
}

struct krt_trace *krt_trace_dup(const struct krt_trace *t)
{
	struct krt_trace *c = calloc(1, sizeof(*c));
	size_t i;

	if (!c)
		return NULL;
	*c = *t;
	c->threads = dup_array(t->threads, t->n_threads, sizeof(*t->threads));
	c->hops = dup_array(t->hops, t->n_hops, sizeof(*t->hops));
	c->slices = dup_array(t->slices, t->n_slices, sizeof(*t->slices));
	if ((t->n_threads && !c->threads) || (t->n_hops && !c->hops) ||
	    (t->n_slices && !c->slices)) {
		free(c->threads);
		free(c->hops);
		free(c->slices);
		free(c);
		return NULL;
	}
	/* The engine owns the container names and may free them before we render. */
	for (i = 0; i < c->n_threads; i++)
		c->threads[i].container =
		    strdup(t->threads[i].container ? t->threads[i].container : "");
	return c;
}

void krt_trace_free(struct krt_trace *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n_threads; i++)
		free((char *)t->threads[i].container);
	free(t->threads);
	free(t->hops);
	free(t->slices);
	free(t);
}

const char *krt_fmt_u64(__u64 v, char *buf)
{
	char tmp[KRT_DEC_MAX + 1], *p;

	tmp[KRT_DEC_MAX] = 0;
	p = krt_dec_digits(tmp + KRT_DEC_MAX, v);
	memcpy(buf, p, (size_t)(tmp + sizeof(tmp) - p));
	return buf;
}

const char *krt_fmt_ms(__u64 ns, char *buf, size_t len)
{
	char tmp[32], *p = tmp + sizeof(tmp);
	__u64 ms = ns / 1000000;
	unsigned int us = (unsigned int)(ns / 1000 % 1000);
	size_t n;

	/* by hand: the text writer prints several per hop, per trace */
	*--p = 0;
	*--p = (char)('0' + us % 10);
	*--p = (char)('0' + us / 10 % 10);
	*--p = (char)('0' + us / 100);
	*--p = '.';
	p = krt_dec_digits(p, ms);
	n = (size_t)(tmp + sizeof(tmp) - p);
	if (!len)
		return buf;
	if (n > len) {
		n = len;
		p[n - 1] = 0;
	}
	memcpy(buf, p, n);
	return buf;
}

const char *krt_incomplete_str(__u32 bits, const char *sep, char *buf, size_t len)
{
	size_t n = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < KRT_INCOMPLETE_CAUSES && n < len; i++)
		if (bits & (1u << i))
			n += snprintf(buf + n, len - n, "%s%s", n ? sep : "",
				      krt_incomplete_name(i));
	return buf;
}

#define SRC(field) .in_source = true, .off = offsetof(struct krt_source_stats, field)
#define SUM(field) .in_source = false, .off = offsetof(struct krt_summary, field)

const struct krt_summary_field krt_summary_fields[] = {
    {"events", "events", KRT_SUM_ALWAYS, KRT_SUM_COUNT, false, SUM(events)},
    /* krt_summary_lost(): the source's count or the engine's, the larger */
    {"lost", "lost events", KRT_SUM_ALWAYS, KRT_SUM_COUNT, true, SUM(lost_events)},
    {"malformed", "malformed lines", KRT_SUM_ALWAYS, KRT_SUM_COUNT, true, SRC(malformed)},
    {"unknown_events", "unknown events", KRT_SUM_ALWAYS, KRT_SUM_COUNT, true, SRC(unknown_events)},
    {"lines", "lines read", KRT_SUM_IMPORT, KRT_SUM_COUNT, false, SRC(lines)},
    {"input_bytes", NULL, KRT_SUM_MACHINE, KRT_SUM_COUNT, false, SRC(bytes)},
    {"ring_records", "ring records", KRT_SUM_LIVE, KRT_SUM_COUNT, false, SRC(ring_records)},
    {"ring_drops", "ring drops", KRT_SUM_LIVE, KRT_SUM_COUNT, true, SRC(ring_drops)},
    {"map_full", "states not kept", KRT_SUM_LIVE, KRT_SUM_COUNT, true, SRC(map_full)},
    {"unresolved_xfers", "unresolved transfers", KRT_SUM_IMPORT_NZ, KRT_SUM_COUNT, true,
     SRC(unresolved_xfers)},
    {"non_socket_io", "non-socket I/O ignored", KRT_SUM_IMPORT, KRT_SUM_COUNT, false,
     SRC(non_socket_io)},
    {"ack_probes", "ACK-only probes ignored", KRT_SUM_IMPORT, KRT_SUM_COUNT, false,
     SRC(ack_probes)},
    {"unpaired_syscalls", "unpaired syscalls", KRT_SUM_IMPORT, KRT_SUM_COUNT, true,
     SRC(unpaired_syscalls)},
    {"no_address", "events without address", KRT_SUM_IMPORT, KRT_SUM_COUNT, true, SRC(no_address)},
    {"reordered", "events out of order", KRT_SUM_NONZERO, KRT_SUM_COUNT, true, SRC(reordered)},
    {"reorder_window_ns", "reorder window grew to", KRT_SUM_NONZERO, KRT_SUM_NS, false,
     SRC(reorder_window_ns)},
    {"table_full", "state table full", KRT_SUM_IMPORT_NZ, KRT_SUM_COUNT, true, SRC(table_full)},
    {"kernel_states", "kernel states held", KRT_SUM_LIVE, KRT_SUM_COUNT, false, SRC(states_held)},
    {"kernel_states_peak", "kernel states peak", KRT_SUM_LIVE, KRT_SUM_COUNT, false,
     SRC(states_peak)},
    {"kernel_states_reclaimed", "kernel states aged out", KRT_SUM_LIVE, KRT_SUM_COUNT, false,
     SRC(states_reclaimed)},
    {"sample_rate", "sampling", KRT_SUM_NONZERO, KRT_SUM_RATE, false, SRC(sample_rate)},
    {"sample_rate_cap", "sampled per second at most", KRT_SUM_NONZERO, KRT_SUM_COUNT, false,
     SRC(sample_rate_cap)},
    {"traces_capped", "requests over the rate cap", KRT_SUM_NONZERO, KRT_SUM_COUNT, false,
     SRC(traces_capped)},
    {"sample_windows", "sampling windows opened", KRT_SUM_NONZERO, KRT_SUM_COUNT, false,
     SRC(sample_windows)},
    {"sample_open_ns", "time in open windows", KRT_SUM_NONZERO, KRT_SUM_NS, false,
     SRC(sample_open_ns)},
    {"sample_run_ns", "of a run of", KRT_SUM_NONZERO, KRT_SUM_NS, false, SRC(sample_run_ns)},
    {"go_followed", "Go goroutines followed", KRT_SUM_NONZERO, KRT_SUM_COUNT, false,
     SRC(go_followed)},
    {"go_by_thread", "Go by thread (mixed)", KRT_SUM_NONZERO, KRT_SUM_COUNT, true,
     SRC(go_by_thread)},
    {"go_synced", "goroutine changes found at hooks", KRT_SUM_NONZERO, KRT_SUM_COUNT, false,
     SRC(go_synced)},
    {"go_switches", "goroutine changes of trace", KRT_SUM_NONZERO, KRT_SUM_COUNT, false,
     SRC(go_switches)},
    {"go_inherited", "goroutines started with a trace", KRT_SUM_NONZERO, KRT_SUM_COUNT, false,
     SRC(go_inherited)},
    {"go_handoffs", "goroutine hand-offs", KRT_SUM_NONZERO, KRT_SUM_COUNT, false, SRC(go_handoffs)},
    {"go_moved", "goroutines fetched from an idle thread", KRT_SUM_NONZERO, KRT_SUM_COUNT, false,
     SRC(go_moved)},
    {"go_reused", "reused runtime.g forgotten", KRT_SUM_NONZERO, KRT_SUM_COUNT, false,
     SRC(go_reused)},
    {"go_dials_handed", "new Go connections handed over", KRT_SUM_NONZERO, KRT_SUM_COUNT, false,
     SRC(go_dials_handed)},
    {"go_chan_handoffs", "hand-offs over channels", KRT_SUM_NONZERO, KRT_SUM_COUNT, false,
     SRC(go_chan_handoffs)},
    {"go_chan_unpaired", "channel values with no send", KRT_SUM_NONZERO, KRT_SUM_COUNT, false,
     SRC(go_chan_unpaired)},
    {"traces", "traces", KRT_SUM_ALWAYS, KRT_SUM_COUNT, false, SUM(traces)},
    {"incomplete_traces", "incomplete traces", KRT_SUM_ALWAYS, KRT_SUM_COUNT, true,
     SUM(incomplete_traces)},
    /* windowed sampling: the tracer's hooks off (docs/outputs.md) */
    {"pauses", "pauses (sampling windows)", KRT_SUM_NONZERO, KRT_SUM_COUNT, false, SUM(pauses)},
    {"hops", "hops", KRT_SUM_ALWAYS, KRT_SUM_COUNT, false, SUM(hops)},
    {"attributed_cpu_ns", "attributed CPU", KRT_SUM_ALWAYS, KRT_SUM_NS, false,
     SUM(attributed_cpu_ns)},
    {"unattributed_cpu_ns", "unattributed CPU", KRT_SUM_ALWAYS, KRT_SUM_NS, false,
     SUM(unattributed_cpu_ns)},
    {"unmatched_recv_bytes", "unmatched recv bytes", KRT_SUM_ALWAYS, KRT_SUM_COUNT, true,
     SUM(unmatched_recv_bytes)},
    {"unmatched_send_bytes", "unmatched send bytes", KRT_SUM_ALWAYS, KRT_SUM_COUNT, true,
     SUM(unmatched_send_bytes)},
    {"untraced_peer_recvs", "untraced peer receives", KRT_SUM_ALWAYS, KRT_SUM_COUNT, false,
     SUM(untraced_peer_recvs)},
    {"duplicate_probes", "duplicate probes", KRT_SUM_NONZERO, KRT_SUM_COUNT, false,
     SUM(duplicate_probes)},
    {"late_events", "late events", KRT_SUM_NONZERO, KRT_SUM_COUNT, true, SUM(late_events)},
    {"dropped_segments", "dropped send segments", KRT_SUM_NONZERO, KRT_SUM_COUNT, true,
     SUM(dropped_segments)},
    {"wakeup_conflicts", "wakeup conflicts", KRT_SUM_NONZERO, KRT_SUM_COUNT, false,
     SUM(wakeup_conflicts)},
    {"uncertain_traces", "uncertain traces", KRT_SUM_ALWAYS, KRT_SUM_COUNT, true,
     SUM(uncertain_traces)},
    {"uncertain_hops", "uncertain hops", KRT_SUM_NONZERO, KRT_SUM_COUNT, true, SUM(uncertain_hops)},
    {"resyncs", "connection resyncs", KRT_SUM_RESYNC, KRT_SUM_COUNT, true, SUM(resyncs)},
    {"silent_losses", "unreported losses", KRT_SUM_NONZERO, KRT_SUM_COUNT, true,
     SUM(silent_losses)},
    {"kernel_tag_disagreements", "kernel tag disagreements", KRT_SUM_NONZERO, KRT_SUM_COUNT, true,
     SUM(kernel_tag_disagreements)},
    /* --debug check-tags: receives read before their send's record, checked at that send */
    {"kernel_tag_late_checks", "kernel tags checked late", KRT_SUM_NONZERO, KRT_SUM_COUNT, false,
     SUM(kernel_tag_late_checks)},
    {"first_ns", NULL, KRT_SUM_MACHINE, KRT_SUM_COUNT, false, SUM(first_ns)},
    {"last_ns", NULL, KRT_SUM_MACHINE, KRT_SUM_COUNT, false, SUM(last_ns)},
};

const size_t krt_n_summary_fields = sizeof(krt_summary_fields) / sizeof(krt_summary_fields[0]);

__u64 krt_summary_value(const struct krt_summary_field *f, const struct krt_summary *s)
{
	const char *base = f->in_source ? (const char *)&s->source : (const char *)s;

	if (f->unit == KRT_SUM_RATE)
		return s->source.sample_rate > 1 ? s->source.sample_rate : 1;
	if (!f->in_source && f->off == offsetof(struct krt_summary, lost_events))
		return krt_summary_lost(s);
	return *(const __u64 *)(base + f->off);
}

bool krt_summary_shown(const struct krt_summary_field *f, const struct krt_summary *s)
{
	const struct krt_source_stats *src = &s->source;
	__u64 v = krt_summary_value(f, s);

	if (!f->label)
		return false;
	switch (f->show) {
	case KRT_SUM_ALWAYS:
		return true;
	case KRT_SUM_NONZERO:
		return f->unit == KRT_SUM_RATE ? v > 1 : v != 0;
	case KRT_SUM_LIVE:
		return src->ring_records || src->ring_drops || src->map_full;
	case KRT_SUM_IMPORT:
		return src->lines != 0;
	case KRT_SUM_IMPORT_NZ:
		return src->lines && v;
	case KRT_SUM_RESYNC:
		return v || krt_summary_lost(s);
	}
	return false;
}

const char *krt_uncertain_str(__u32 bits, char *buf, size_t len)
{
	static const struct {
		__u32 bit;
		const char *name;
	} reasons[] = {
	    {KRT_UNCERTAIN_HANDOFF, "handoff"},	  {KRT_UNCERTAIN_SAMPLING, "sampling"},
	    {KRT_UNCERTAIN_ONEWAY, "oneway"},	  {KRT_UNCERTAIN_LOOP, "loop"},
	    {KRT_UNCERTAIN_PIPELINE, "pipeline"}, {KRT_UNCERTAIN_GOROUTINE, "goroutine"},
	};
	size_t i, n = 0;

	if (!len)
		return buf;
	buf[0] = 0;
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (!(bits & reasons[i].bit))
			continue;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? "," : "",
				      reasons[i].name);
		if (n >= len)
			break;
	}
	return buf;
}
