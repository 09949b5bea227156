/* dot writer: placeholder until the real one lands (writes nothing yet). */
#include "writer_util.h"

static int dot_trace(struct krt_writer *w, const struct krt_trace *t)
{
	return 0;
}

static int dot_finish(struct krt_writer *w, const struct krt_summary *s)
{
	return 0;
}

static void dot_destroy(struct krt_writer *w)
{
	krt_writer_free(w);
}

static const struct krt_writer_ops dot_ops = {
	.name = "dot",
	.trace = dot_trace,
	.finish = dot_finish,
	.destroy = dot_destroy,
};

struct krt_writer *krt_writer_dot_new(FILE *out, __u64 only_trace)
{
	return krt_writer_alloc(&dot_ops, out, NULL);
}
