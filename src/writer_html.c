/* html writer: placeholder until the real one lands (writes nothing yet). */
#include "writer_util.h"

static int html_trace(struct krt_writer *w, const struct krt_trace *t)
{
	return 0;
}

static int html_finish(struct krt_writer *w, const struct krt_summary *s)
{
	return 0;
}

static void html_destroy(struct krt_writer *w)
{
	krt_writer_free(w);
}

static const struct krt_writer_ops html_ops = {
	.name = "html",
	.trace = html_trace,
	.finish = html_finish,
	.destroy = html_destroy,
};

struct krt_writer *krt_writer_html_new(FILE *out, const char *title)
{
	return krt_writer_alloc(&html_ops, out, NULL);
}
