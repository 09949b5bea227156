/* otlp writer: placeholder until the real one lands (writes nothing yet). */
#include "writer_util.h"

static int otlp_trace(struct krt_writer *w, const struct krt_trace *t)
{
	return 0;
}

static int otlp_finish(struct krt_writer *w, const struct krt_summary *s)
{
	return 0;
}

static void otlp_destroy(struct krt_writer *w)
{
	krt_writer_free(w);
}

static const struct krt_writer_ops otlp_ops = {
	.name = "otlp",
	.trace = otlp_trace,
	.finish = otlp_finish,
	.destroy = otlp_destroy,
};

struct krt_writer *krt_writer_otlp_new(FILE *out, const char *endpoint)
{
	return krt_writer_alloc(&otlp_ops, out, NULL);
}
