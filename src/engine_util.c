/* Engine utilities: open-addressing hash tables of object pointers, allocation. */
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
