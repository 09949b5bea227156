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

const char *krt_node_name(const struct krt_trace *t, __u32 tid, const struct krt_addr *a,
			  char *buf, size_t len)
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
		c->threads[i].container = strdup(t->threads[i].container ? t->threads[i].container : "");
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
