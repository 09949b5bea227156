/* chrome writer: placeholder until the real one lands (writes nothing yet). */
#include "writer_util.h"

static int chrome_trace(struct krt_writer *w, const struct krt_trace *t)
{
	return 0;
}

static int chrome_finish(struct krt_writer *w, const struct krt_summary *s)
{
	return 0;
}

static void chrome_destroy(struct krt_writer *w)
{
	krt_writer_free(w);
}

static const struct krt_writer_ops chrome_ops = {
	.name = "chrome",
	.trace = chrome_trace,
	.finish = chrome_finish,
	.destroy = chrome_destroy,
};

struct krt_writer *krt_writer_chrome_new(FILE *out)
{
	return krt_writer_alloc(&chrome_ops, out, NULL);
}
