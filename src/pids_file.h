/* The container PIDs file: "PID Container_Name Container_IP Container_Hash". */
#ifndef KRT_PIDS_FILE_H
#define KRT_PIDS_FILE_H

#include <stdio.h>
#include <linux/types.h>
#include "krtrace_event.h"

#define KRT_NAME_LEN 64
#define KRT_HASH_LEN 80

struct krt_container {
	__u32 pid; /* a long-running process of the container */
	char name[KRT_NAME_LEN];
	struct krt_addr ip; /* port 0 */
	char hash[KRT_HASH_LEN];
};

struct krt_pids {
	struct krt_container *v;
	size_t n, cap;
	/*
	 * Moves at every change of v (an add, a prune, a free): whoever keeps
	 * an index of v (the engine's pid -> entry map) rebuilds it. The
	 * length alone does not tell: an add and a prune between two lookups
	 * leave it as it was with the entries shifted.
	 */
	unsigned long gen;
};

/*
 * Parse a PIDs file. Blank lines and lines starting with '#' are skipped.
 * On a bad line, writes "FILE:LINE: cause" into err (errlen bytes) and
 * returns -1; returns 0 on success. An empty file is an error.
 */
int krt_pids_load(struct krt_pids *pids, const char *path, char *err, size_t errlen);
int krt_pids_parse_stream(struct krt_pids *pids, FILE *f, const char *name, char *err,
			  size_t errlen);
int krt_pids_add(struct krt_pids *pids, const struct krt_container *c);
void krt_pids_free(struct krt_pids *pids);
/* Writes the PIDs file format, one line per container. */
void krt_pids_write(const struct krt_pids *pids, FILE *out);

#endif
