/* 128-bit trace ids: this run's random word + the engine's trace number. */
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "trace_id.h"

static __u64 run_word;
static pthread_once_t run_word_once = PTHREAD_ONCE_INIT;

static __u64 mix64(__u64 x)
{
	/* splitmix64 finaliser: a cheap, well-spread hash of 64 bits. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void run_word_init(void)
{
	struct timespec ts;

	/* Without getrandom, time and pid still separate runs. */
	if (getrandom(&run_word, sizeof(run_word), GRND_NONBLOCK) != sizeof(run_word)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		run_word =
		    mix64((__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec) ^ ((__u64)getpid() << 32);
	}
	/* The top bit set: never an all-zero trace id, whatever the trace number. */
	run_word |= 1ULL << 63;
}

__u64 krt_run_word(void)
{
	pthread_once(&run_word_once, run_word_init);
	return run_word;
}

static void put_be64(__u8 *b, __u64 v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		b[i] = (__u8)v;
}

/*
 * A trace the kernel numbered is named by that number (the TCP option
 * carries it, so another host can name it too), one continuing another
 * host's trace by that trace's origin; bit 32 keeps both apart from the
 * engine's own numbers.
 */
void krt_trace_id128(const struct krt_trace *t, __u8 out[16])
{
	if (t->remote.run) {
		put_be64(out, t->remote.run);
		put_be64(out + 8, 1ULL << 32 | t->remote.trace);
	} else if (t->kernel_id) {
		put_be64(out, krt_run_word());
		put_be64(out + 8, 1ULL << 32 | t->kernel_id);
	} else {
		put_be64(out, krt_run_word());
		put_be64(out + 8, t->id);
	}
}

void krt_hex(const __u8 *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

void krt_trace_id_hex(const struct krt_trace *t, char out[KRT_TRACE_ID_HEX_LEN + 1])
{
	__u8 id[16];

	krt_trace_id128(t, id);
	krt_hex(id, sizeof(id), out);
}
