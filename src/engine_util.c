/* Engine utilities: open-addressing hash tables of object pointers, allocation. */
#include <stdarg.h>
#include "engine_internal.h"

char eng_tombstone_mark;

void *eng_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		fprintf(stderr, "krtrace: engine: out of memory\n");
		abort();
	}
	return p;
}

void *eng_xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p) {
		fprintf(stderr, "krtrace: engine: out of memory\n");
		abort();
	}
	return p;
}

void eng_table_init(struct table *t)
{
	t->cap = 64;
	t->slots = eng_xcalloc(t->cap, sizeof(*t->slots));
	t->used = t->tombs = 0;
}

void *eng_table_find(const struct table *t, __u64 hash, const void *key, table_eq_fn eq)
{
	size_t mask = t->cap - 1, i = hash & mask;

	for (;;) {
		const struct slot *s = &t->slots[i];

		if (!s->obj)
			return NULL;
		if (s->obj != TOMBSTONE && s->hash == hash && eq(s->obj, key))
			return s->obj;
		i = (i + 1) & mask;
	}
}

static void table_put_raw(struct slot *slots, size_t cap, __u64 hash, void *obj)
{
	size_t mask = cap - 1, i = hash & mask;

	while (slots[i].obj && slots[i].obj != TOMBSTONE)
		i = (i + 1) & mask;
	slots[i].hash = hash;
	slots[i].obj = obj;
}

void eng_table_resize(struct table *t, size_t cap)
{
	struct slot *old = t->slots;
	size_t i, old_cap = t->cap;

	t->slots = eng_xcalloc(cap, sizeof(*t->slots));
	t->cap = cap;
	t->tombs = 0;
	for (i = 0; i < old_cap; i++)
		if (old[i].obj && old[i].obj != TOMBSTONE)
			table_put_raw(t->slots, cap, old[i].hash, old[i].obj);
	free(old);
}

void eng_table_insert(struct table *t, __u64 hash, void *obj)
{
	if ((t->used + t->tombs + 1) * 10 > t->cap * 7)
		eng_table_resize(t, t->used * 2 + 2 > t->cap ? t->cap * 2 : t->cap);
	/* a tombstone may be reused; count it back */
	{
		size_t mask = t->cap - 1, i = hash & mask;

		while (t->slots[i].obj && t->slots[i].obj != TOMBSTONE)
			i = (i + 1) & mask;
		if (t->slots[i].obj == TOMBSTONE)
			t->tombs--;
		t->slots[i].hash = hash;
		t->slots[i].obj = obj;
	}
	t->used++;
}

void eng_table_remove(struct table *t, __u64 hash, const void *obj)
{
	size_t mask = t->cap - 1, i = hash & mask;

	for (;;) {
		struct slot *s = &t->slots[i];

		if (!s->obj)
			return;
		if (s->obj == obj) {
			s->obj = TOMBSTONE;
			t->used--;
			t->tombs++;
			return;
		}
		i = (i + 1) & mask;
	}
}

void eng_table_free(struct table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = t->used = t->tombs = 0;
}

/* ---------------------------------------------------------------------- */
/* Verbose (-V) decision log                                               */

#define C_RESET "\033[0m"
#define C_DIM "\033[2m"
#define C_BOLD "\033[1m"
#define C_RED "\033[31m"

static const char *trace_colors[] = {"\033[32m", "\033[33m", "\033[34m",
				     "\033[35m", "\033[36m", "\033[91m"};

/*
 * One line: "  SECS.USECS comm[tid] <what>". A trace id mentioned by the
 * line colours it (same colour for the same trace) with -C.
 */
void eng_vlog_out(struct krt_engine *e, __u64 ts, const struct thread *t, __u32 tid, __u64 trace,
		  const char *fmt, ...)
{
	FILE *f = e->cfg.verbose;
	va_list ap;

	if (!f)
		return;
	fprintf(f, "%s%6llu.%06llu%s %s[%u] ", e->cfg.color ? C_DIM : "",
		(unsigned long long)(ts / 1000000000ULL),
		(unsigned long long)(ts % 1000000000ULL / 1000), e->cfg.color ? C_RESET : "",
		t && t->comm[0] ? t->comm : "?", t ? t->tid : tid);
	if (e->cfg.color && trace)
		fputs(trace_colors[trace % (sizeof(trace_colors) / sizeof(trace_colors[0]))], f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	if (e->cfg.color && trace)
		fputs(C_RESET, f);
	fputc('\n', f);
}
