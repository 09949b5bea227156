/*
 * The container PIDs file (README, "Trace a live application"): "PID Container_Name Container_IP
 * Container_Hash", whitespace-separated, one line per long-running process.
 *
 * The hash is optional (hand-written files often omit it); everything else
 * is checked, and the first bad line stops loading with "FILE:LINE: cause".
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "pids_file.h"

/* A PIDs file line is short; anything longer than this is not one. */
#define PIDS_LINE_MAX 4096
#define PIDS_MAX_ENTRIES (1u << 20)

int krt_pids_add(struct krt_pids *pids, const struct krt_container *c)
{
	if (pids->n == pids->cap) {
		size_t cap = pids->cap ? pids->cap * 2 : 16;
		struct krt_container *v;

		if (pids->n >= PIDS_MAX_ENTRIES)
			return -1;
		v = realloc(pids->v, cap * sizeof(*v));
		if (!v)
			return -1;
		pids->v = v;
		pids->cap = cap;
	}
	pids->v[pids->n++] = *c;
	pids->gen++;
	return 0;
}

void krt_pids_free(struct krt_pids *pids)
{
	free(pids->v);
	pids->v = NULL;
	pids->n = pids->cap = 0;
	pids->gen++;
}

/* Strict decimal PID: digits only, 1..INT_MAX (pid_t is signed). */
static int parse_pid(const char *s, __u32 *pid)
{
	unsigned long v = 0;
	const char *p;

	if (!*s)
		return -1;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > INT_MAX)
			return -1;
	}
	if (v == 0)
		return -1;
	*pid = (__u32)v;
	return 0;
}

/* Copies a field, truncating at dst's size; names longer than that are rare. */
static void copy_field(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

static int parse_line(char *line, struct krt_container *c, const char **cause, const char **bad_tok)
{
	char *tok[5];
	char *save = NULL, *t;
	int n = 0;

	for (t = strtok_r(line, " \t\r\n\v\f", &save); t && n < 5;
	     t = strtok_r(NULL, " \t\r\n\v\f", &save))
		tok[n++] = t;
	if (n == 0)
		return 1; /* blank */
	if (tok[0][0] == '#')
		return 1;
	memset(c, 0, sizeof(*c));
	if (parse_pid(tok[0], &c->pid)) {
		*cause = "bad PID";
		*bad_tok = tok[0];
		return -1;
	}
	if (n < 3) {
		*cause = "expected 'PID Container_Name Container_IP [Container_Hash]'";
		*bad_tok = NULL;
		return -1;
	}
	if (n > 4) {
		*cause = "too many fields";
		*bad_tok = tok[4];
		return -1;
	}
	copy_field(c->name, sizeof(c->name), tok[1]);
	if (krt_addr_parse_ip(tok[2], &c->ip)) {
		*cause = "bad container IP";
		*bad_tok = tok[2];
		return -1;
	}
	if (n == 4)
		copy_field(c->hash, sizeof(c->hash), tok[3]);
	return 0;
}

int krt_pids_parse_stream(struct krt_pids *pids, FILE *f, const char *name, char *err,
			  size_t errlen)
{
	char line[PIDS_LINE_MAX];
	unsigned long lineno = 0;
	struct krt_container c;

	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		const char *cause = NULL, *bad = NULL;
		int rc;

		lineno++;
		if (len == sizeof(line) - 1 && line[len - 1] != '\n' && !feof(f)) {
			snprintf(err, errlen, "%s:%lu: line longer than %d bytes", name, lineno,
				 PIDS_LINE_MAX - 1);
			return -1;
		}
		rc = parse_line(line, &c, &cause, &bad);
		if (rc > 0)
			continue;
		if (rc < 0) {
			if (bad)
				snprintf(err, errlen, "%s:%lu: %s '%.40s'", name, lineno, cause,
					 bad);
			else
				snprintf(err, errlen, "%s:%lu: %s", name, lineno, cause);
			return -1;
		}
		if (krt_pids_add(pids, &c)) {
			snprintf(err, errlen, "%s:%lu: too many entries or out of memory", name,
				 lineno);
			return -1;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error: %s", name, strerror(errno));
		return -1;
	}
	if (pids->n == 0) {
		snprintf(err, errlen, "%s: no PIDs (empty file)", name);
		return -1;
	}
	return 0;
}

int krt_pids_load(struct krt_pids *pids, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	int rc;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = krt_pids_parse_stream(pids, f, path, err, errlen);
	fclose(f);
	/* a bad line after good ones: the caller gets no half-loaded list to free */
	if (rc)
		krt_pids_free(pids);
	return rc;
}

void krt_pids_write(const struct krt_pids *pids, FILE *out)
{
	char ip[KRT_ADDR_STRLEN];
	size_t i;

	for (i = 0; i < pids->n; i++) {
		const struct krt_container *c = &pids->v[i];

		krt_ip_str(&c->ip, ip, sizeof(ip));
		fprintf(out, "%u %s %s%s%s\n", c->pid, c->name[0] ? c->name : "-", ip,
			c->hash[0] ? " " : "", c->hash);
	}
}
