/* raw writer: placeholder until the real one lands (writes nothing yet). */
#include "writer_util.h"

static int raw_trace(struct krt_writer *w, const struct krt_trace *t)
{
	return 0;
}

static int raw_finish(struct krt_writer *w, const struct krt_summary *s)
{
	return 0;
}

static void raw_destroy(struct krt_writer *w)
{
	krt_writer_free(w);
}

static const struct krt_writer_ops raw_ops = {
	.name = "raw",
	.trace = raw_trace,
	.finish = raw_finish,
	.destroy = raw_destroy,
};

struct krt_writer *krt_writer_raw_new(FILE *out)
{
	return krt_writer_alloc(&raw_ops, out, NULL);
}
