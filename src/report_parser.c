/*
 * trace-cmd report -R text -> struct krt_report_record.
 *
 * Speed matters (captures are hundreds of MB): lines are parsed in place,
 * with no allocation and no sscanf; the event name is dispatched by length
 * and memcmp; numbers are parsed by hand. Robustness matters as much: any
 * byte sequence is either a record, a skipped line or a counted malformed
 * line, never a crash, and memory use does not depend on the input.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "addr.h"
#include "report_parser.h"

#define READ_BLOCK (1024 * 1024)

void krt_rp_init(struct krt_report_parser *p, const char *name, FILE *diag)
{
	memset(p, 0, sizeof(*p));
	p->name = name ? name : "<stdin>";
	p->diag = diag;
}

const char *krt_rp_kind_name(int kind)
{
	static const char *const names[] = {
	    [KRT_RP_SKIP] = "skip",
	    [KRT_RP_SWITCH] = "sched_switch",
	    [KRT_RP_FORK] = "sched_process_fork",
	    [KRT_RP_EXIT] = "sched_process_exit",
	    [KRT_RP_WAKEUP] = "sched_wakeup",
	    [KRT_RP_SYS_ENTER] = "sys_enter",
	    [KRT_RP_SYS_EXIT] = "sys_exit",
	    [KRT_RP_SOCK_STATE] = "inet_sock_set_state",
	    [KRT_RP_TCP_PROBE] = "tcp_probe",
	    [KRT_RP_RCV_SPACE] = "tcp_rcv_space_adjust",
	    [KRT_RP_LOST] = "lost",
	    [KRT_RP_GO_EXECUTE] = "go_execute",
	    [KRT_RP_GO_START] = "go_start",
	    [KRT_RP_GO_READY] = "go_ready",
	};

	if (kind < 0 || kind >= KRT_RP_KIND_MAX)
		return "?";
	return names[kind];
}

/* ---- small scanners ------------------------------------------------------ */

static inline bool is_digit(char c)
{
	return (unsigned char)(c - '0') < 10;
}

static inline bool is_ident(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline int hex_val(char c)
{
	if (is_digit(c))
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

#define KEY_IS(k, n, lit) ((n) == sizeof(lit) - 1 && !memcmp((k), (lit), sizeof(lit) - 1))

/* Unsigned decimal or 0x-hex, the whole of [s, s+n); overflow is an error. */
static bool parse_u64(const char *s, size_t n, __u64 *out)
{
	__u64 v = 0;
	size_t i;

	if (n == 0)
		return false;
	if (n > 2 && s[0] == '0' && (s[1] | 0x20) == 'x') {
		if (n - 2 > 16)
			return false;
		for (i = 2; i < n; i++) {
			int h = hex_val(s[i]);

			if (h < 0)
				return false;
			v = (v << 4) | (__u64)h;
		}
		*out = v;
		return true;
	}
	if (n > 20)
		return false;
	for (i = 0; i < n; i++) {
		__u64 d;

		if (!is_digit(s[i]))
			return false;
		d = (__u64)(s[i] - '0');
		if (v > (~0ULL - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* Hex with or without "0x". */
static bool parse_hex_u64(const char *s, size_t n, __u64 *out)
{
	__u64 v = 0;
	size_t i;

	if (n > 2 && s[0] == '0' && (s[1] | 0x20) == 'x') {
		s += 2;
		n -= 2;
	}
	if (n == 0 || n > 16)
		return false;
	for (i = 0; i < n; i++) {
		int h = hex_val(s[i]);

		if (h < 0)
			return false;
		v = (v << 4) | (__u64)h;
	}
	*out = v;
	return true;
}

/* Signed: "-12", "12", "0xfffffffffffffff5" (two's complement, as the kernel prints). */
static bool parse_s64(const char *s, size_t n, __s64 *out)
{
	__u64 v;

	if (n > 1 && s[0] == '-') {
		if (!parse_u64(s + 1, n - 1, &v) || v > (1ULL << 63))
			return false;
		*out = (__s64)(0 - v);
		return true;
	}
	if (!parse_u64(s, n, &v))
		return false;
	*out = (__s64)v;
	return true;
}

static bool parse_u32(const char *s, size_t n, __u32 *out)
{
	__u64 v;

	if (!parse_u64(s, n, &v) || v > 0xffffffffULL)
		return false;
	*out = (__u32)v;
	return true;
}

/* A pid field: decimal, non-negative, fits pid_t. */
static bool parse_pid(const char *s, size_t n, __u32 *out)
{
	__s64 v;

	if (!parse_s64(s, n, &v) || v < 0 || v > 0x7fffffff)
		return false;
	*out = (__u32)v;
	return true;
}

static void copy_comm(char *dst, const char *s, size_t n)
{
	if (n > KRT_COMM_LEN - 1)
		n = KRT_COMM_LEN - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/*
 * "ARRAY[7f,00,00,01]" -> bytes. A trailing "..." (trace-cmd shortening the
 * array) stops the list: *truncated tells. Returns the byte count, -1 when
 * the text is not an array. An empty value (saddr_v6=) is 0 bytes. Stops
 * after max bytes (the rest of a long array is not even looked at).
 */
static int parse_array(const char *s, size_t n, __u8 *out, int max, bool *truncated)
{
	const char *e = s + n;
	int count = 0;

	*truncated = false;
	if (n == 0)
		return 0;
	if (n < 7 || memcmp(s, "ARRAY[", 6))
		return -1;
	s += 6;
	while (s < e && *s != ']') {
		int hi, lo;

		if (*s == '.') {
			*truncated = true;
			while (s < e && *s == '.')
				s++;
			break;
		}
		hi = hex_val(*s);
		if (hi < 0)
			return -1;
		s++;
		lo = s < e ? hex_val(*s) : -1;
		if (lo >= 0)
			s++;
		else
			lo = hi, hi = 0; /* a single hex digit */
		out[count++] = (__u8)(hi << 4 | lo);
		if (count == max)
			return count; /* all the caller wants: the rest is not read */
		if (s < e && *s == ',')
			s++;
		while (s < e && *s == ' ') /* report text not passed through sed */
			s++;
	}
	if (s >= e || *s != ']')
		return -1;
	return count;
}

/* A 4- or 16-byte address field; also tolerates dotted IPv4 (non-raw output). */
static bool parse_ip_field(const char *s, size_t n, struct krt_addr *a, bool v6)
{
	__u8 b[16];
	bool trunc;
	int c;

	if (n > 0 && is_digit(s[0])) {
		char tmp[64];

		if (n >= sizeof(tmp))
			return false;
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		return krt_addr_parse_ip(tmp, a) == 0;
	}
	c = parse_array(s, n, b, 16, &trunc);
	if (c < 0)
		return false;
	if (c == 0)
		return true; /* empty: family stays as it was */
	if (!v6 && c >= 4 && !trunc) {
		a->family = KRT_AF_INET;
		memcpy(a->addr, b, 4);
		return true;
	}
	if (v6 && c == 16) {
		a->family = KRT_AF_INET6;
		memcpy(a->addr, b, 16);
		return true;
	}
	return false;
}

/* An address in text form, "10.0.0.1" or "::ffff:10.0.0.1"; v6 fields keep their family. */
static bool parse_ip_text(const char *s, size_t n, struct krt_addr *a, bool v6)
{
	char tmp[INET6_ADDRSTRLEN + 1];

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	memset(a, 0, sizeof(*a));
	if (!v6 && inet_pton(AF_INET, tmp, a->addr) == 1) {
		a->family = KRT_AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, tmp, a->addr) == 1) {
		a->family = KRT_AF_INET6;
		return true;
	}
	return false;
}

/* "10.0.0.1:80" or "[::1]:80" (the kernel's %pISpc). */
static bool parse_ip_port_text(const char *s, size_t n, struct krt_addr *a, __u16 *port)
{
	const char *e = s + n, *c = e;
	__u32 p;

	while (c > s && c[-1] != ':')
		c--;
	if (c == s || !parse_u32(c, (size_t)(e - c), &p) || p > 0xffff)
		return false;
	*port = (__u16)p;
	e = c - 1;
	if (e - s >= 2 && s[0] == '[' && e[-1] == ']')
		return parse_ip_text(s + 1, (size_t)(e - s - 2), a, true);
	return parse_ip_text(s, (size_t)(e - s), a, false);
}

/*
 * tcp_probe's saddr/daddr: a struct sockaddr_in/_in6 as bytes (family LE16,
 * port BE16, then the address). Also accepts the plain 4-byte form.
 */
static bool parse_sockaddr_field(const char *s, size_t n, struct krt_addr *a)
{
	__u8 b[24];
	bool trunc;
	int c = parse_array(s, n, b, 8, &trunc); /* family, port, IPv4 address */
	unsigned int fam;

	if (c < 0)
		return false;
	if (c == 8 && (b[0] | (unsigned int)b[1] << 8) == KRT_AF_INET6)
		c = parse_array(s, n, b, 24, &trunc);
	if (c == 4 && !trunc) {
		a->family = KRT_AF_INET;
		memcpy(a->addr, b, 4);
		return true;
	}
	if (c < 8)
		return false;
	fam = b[0] | (unsigned int)b[1] << 8;
	if (fam == KRT_AF_INET) {
		a->family = KRT_AF_INET;
		a->port = (__u16)(b[2] << 8 | b[3]);
		memcpy(a->addr, b + 4, 4);
		return true;
	}
	if (fam == KRT_AF_INET6 && c >= 24) {
		a->family = KRT_AF_INET6;
		a->port = (__u16)(b[2] << 8 | b[3]);
		memcpy(a->addr, b + 8, 16);
		return true;
	}
	return false;
}

static bool parse_family(const char *s, size_t n, __u32 *fam)
{
	if (KEY_IS(s, n, "AF_INET")) {
		*fam = KRT_AF_INET;
		return true;
	}
	if (KEY_IS(s, n, "AF_INET6")) {
		*fam = KRT_AF_INET6;
		return true;
	}
	return parse_u32(s, n, fam);
}

static bool parse_tcp_state(const char *s, size_t n, __s32 *st)
{
	static const char *const names[] = {
	    NULL,	 "ESTABLISHED", "SYN_SENT",	"SYN_RECV",	  "FIN_WAIT1",
	    "FIN_WAIT2", "TIME_WAIT",	"CLOSE",	"CLOSE_WAIT",	  "LAST_ACK",
	    "LISTEN",	 "CLOSING",	"NEW_SYN_RECV", "BOUND_INACTIVE",
	};
	__s64 v;
	size_t i;

	if (n > 4 && !memcmp(s, "TCP_", 4)) {
		for (i = 1; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i]) == n - 4 && !memcmp(s + 4, names[i], n - 4)) {
				*st = (__s32)i;
				return true;
			}
		return false;
	}
	if (!parse_s64(s, n, &v) || v < 0 || v > 255)
		return false;
	*st = (__s32)v;
	return true;
}

/*
 * prev_state: a number (raw report: the kernel's state bits, 0x100 the
 * "preempted" flag) or the letters of the formatted report ("S", "R+",
 * "D|K"). 0 means the task was still runnable.
 */
static bool parse_prev_state(const char *s, size_t n, __s64 *st)
{
	__s64 v = 0;
	size_t i;

	if (n > 0 && is_digit(s[0])) {
		if (!parse_s64(s, n, &v))
			return false;
		*st = v & 0xff;
		return true;
	}
	for (i = 0; i < n; i++) {
		switch (s[i]) {
		case 'R':
		case '+':
		case '|':
			break;
		case 'S':
			v |= 0x1;
			break;
		case 'D':
			v |= 0x2;
			break;
		case 'T':
			v |= 0x4;
			break;
		case 't':
			v |= 0x8;
			break;
		case 'X':
			v |= 0x10;
			break;
		case 'Z':
			v |= 0x20;
			break;
		case 'P':
			v |= 0x40;
			break;
		case 'I':
			v |= 0x80;
			break;
		case 'K':
		case 'W':
		case 'N':
			v |= 0x100;
			break;
		default:
			return false;
		}
	}
	if (n == 0)
		return false;
	*st = v;
	return true;
}

/*
 * Finds the end of a value that starts at s. Values end at a space that is
 * followed by the next "key=" (or by the "==>" of a formatted sched_switch);
 * other spaces belong to the value: comm may contain spaces.
 */
static const char *value_end(const char *s, const char *e, const char **next_key,
			     const char **next_eq)
{
	*next_key = e;
	*next_eq = NULL;
	for (;;) {
		const char *sp = memchr(s, ' ', (size_t)(e - s));
		const char *t;

		if (!sp)
			return e;
		t = sp;
		while (t < e && *t == ' ')
			t++;
		if (t == e)
			return sp;
		if (*t == '=' && t + 3 <= e && t[1] == '=' && t[2] == '>') {
			*next_key = t;
			return sp;
		}
		if (is_ident(*t)) {
			const char *k = t;

			while (k < e && is_ident(*k))
				k++;
			if (k < e && *k == '=') {
				/* hand the key over: the caller does not scan it again */
				*next_key = t;
				*next_eq = k;
				return sp;
			}
		}
		s = t;
	}
}

/* ---- event dispatch ------------------------------------------------------ */

enum field_need {
	NEED_PREV = 1 << 0,
	NEED_NEXT = 1 << 1,
	NEED_PID = 1 << 2,
	NEED_CHILD = 1 << 3,
	NEED_FD = 1 << 4,
	NEED_RET = 1 << 5,
	NEED_SPORT = 1 << 6,
	NEED_DPORT = 1 << 7,
	NEED_SADDR = 1 << 8,
	NEED_DADDR = 1 << 9,
	NEED_OLD = 1 << 10,
	NEED_NEW = 1 << 11,
	NEED_G = 1 << 12,
	NEED_GOID = 1 << 13,
	NEED_SKIP = 1 << 14,
	NEED_PROC = 1 << 15,
};

/* The contract's syscalls by name ("read"); 0 for any other. */
static int syscall_by_name(const char *name, size_t nl)
{
	if (KEY_IS(name, nl, "read"))
		return KRT_SYS_READ;
	if (KEY_IS(name, nl, "write"))
		return KRT_SYS_WRITE;
	if (KEY_IS(name, nl, "sendto"))
		return KRT_SYS_SENDTO;
	if (KEY_IS(name, nl, "recvfrom"))
		return KRT_SYS_RECVFROM;
	if (KEY_IS(name, nl, "sendmsg"))
		return KRT_SYS_SENDMSG;
	if (KEY_IS(name, nl, "recvmsg"))
		return KRT_SYS_RECVMSG;
	return 0;
}

static int event_kind(const char *s, size_t n, int *sys)
{
	*sys = 0;
	switch (n) {
	case 8:
		if (!memcmp(s, "go_start", 8))
			return KRT_RP_GO_START;
		if (!memcmp(s, "go_ready", 8))
			return KRT_RP_GO_READY;
		break;
	case 9:
		if (!memcmp(s, "tcp_probe", 9))
			return KRT_RP_TCP_PROBE;
		break;
	case 10:
		if (!memcmp(s, "go_execute", 10))
			return KRT_RP_GO_EXECUTE;
		break;
	case 12:
		if (!memcmp(s, "sched_switch", 12))
			return KRT_RP_SWITCH;
		if (!memcmp(s, "sched_wakeup", 12))
			return KRT_RP_WAKEUP;
		if (!memcmp(s, "sched_waking", 12))
			return KRT_RP_WAKEUP;
		break;
	case 18:
		if (!memcmp(s, "sched_process_fork", 18))
			return KRT_RP_FORK;
		if (!memcmp(s, "sched_process_exit", 18))
			return KRT_RP_EXIT;
		break;
	case 19:
		if (!memcmp(s, "inet_sock_set_state", 19))
			return KRT_RP_SOCK_STATE;
		break;
	case 20:
		if (!memcmp(s, "tcp_rcv_space_adjust", 20))
			return KRT_RP_RCV_SPACE;
		break;
	}
	if (n > 8 && !memcmp(s, "sys_e", 5)) {
		const char *name;
		size_t nl;
		int kind;

		if (!memcmp(s, "sys_enter_", 10) && n > 10) {
			kind = KRT_RP_SYS_ENTER;
			name = s + 10;
			nl = n - 10;
		} else if (!memcmp(s, "sys_exit_", 9)) {
			kind = KRT_RP_SYS_EXIT;
			name = s + 9;
			nl = n - 9;
		} else {
			return KRT_RP_SKIP;
		}
		*sys = syscall_by_name(name, nl);
		return *sys ? kind : KRT_RP_SKIP;
	}
	return KRT_RP_SKIP;
}

int krt_rp_event_kind(const char *name, size_t n, int *sys)
{
	return event_kind(name, n, sys);
}

static unsigned int required_fields(int kind)
{
	switch (kind) {
	case KRT_RP_SWITCH:
		return NEED_PREV | NEED_NEXT;
	case KRT_RP_FORK:
		return NEED_CHILD;
	case KRT_RP_WAKEUP:
		return NEED_PID;
	case KRT_RP_SYS_ENTER:
		return NEED_FD;
	case KRT_RP_SYS_EXIT:
		return NEED_RET;
	case KRT_RP_SOCK_STATE:
		return NEED_OLD | NEED_NEW | NEED_SPORT | NEED_DPORT | NEED_SADDR | NEED_DADDR;
	case KRT_RP_TCP_PROBE:
	case KRT_RP_RCV_SPACE:
		return NEED_SPORT | NEED_DPORT | NEED_SADDR | NEED_DADDR;
	case KRT_RP_GO_EXECUTE:
		return NEED_G | NEED_GOID | NEED_PROC;
	case KRT_RP_GO_START:
		return NEED_G | NEED_PROC;
	case KRT_RP_GO_READY:
		return NEED_G | NEED_SKIP | NEED_PROC;
	}
	return 0;
}

static const char *missing_name(unsigned int missing)
{
	if (missing & NEED_PREV)
		return "missing field prev_pid";
	if (missing & NEED_NEXT)
		return "missing field next_pid";
	if (missing & NEED_PID)
		return "missing field pid";
	if (missing & NEED_CHILD)
		return "missing field child_pid";
	if (missing & NEED_FD)
		return "missing field fd";
	if (missing & NEED_RET)
		return "missing field ret";
	if (missing & (NEED_SPORT | NEED_DPORT))
		return "missing field sport/dport";
	if (missing & (NEED_SADDR | NEED_DADDR))
		return "missing field saddr/daddr";
	if (missing & NEED_G)
		return "missing field g";
	if (missing & NEED_GOID)
		return "missing field goid";
	if (missing & NEED_SKIP)
		return "missing field skip";
	if (missing & NEED_PROC)
		return "missing field proc";
	return "missing field oldstate/newstate";
}

/* Per-line scratch for the addresses whose family is only known at the end. */
#define addr_scratch krt_rp_addr_scratch
/* Continuation lines of one record, at most (bounded work per record). */
#define MAX_CONT_LINES 4

/*
 * A goroutine event's field (docs/handoffs.md, "Goroutine events in a
 * capture"): g is a pointer (0x-hex),
 * goid, skip and proc are decimal (s64 fetch arguments).
 */
static bool take_go_field(struct krt_report_record *r, unsigned int *got, const char *k, size_t kn,
			  const char *v, size_t vn)
{
	if (KEY_IS(k, kn, "g")) {
		*got |= NEED_G;
		return vn > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X') &&
		       parse_hex_u64(v, vn, &r->go_g) && r->go_g;
	}
	if (KEY_IS(k, kn, "goid")) {
		*got |= NEED_GOID;
		return parse_s64(v, vn, &r->go_goid) && r->go_goid > 0;
	}
	if (KEY_IS(k, kn, "skip")) {
		*got |= NEED_SKIP;
		return parse_s64(v, vn, &r->go_skip);
	}
	if (KEY_IS(k, kn, "proc")) {
		__s64 key;

		*got |= NEED_PROC;
		if (!parse_s64(v, vn, &key))
			return false;
		r->go_proc = (__u64)key;
		return true;
	}
	return true;
}

/* Handles one field; returns false when its value is malformed. */
static bool take_field(struct krt_report_record *r, struct addr_scratch *as, unsigned int *got,
		       const char *k, size_t kn, const char *v, size_t vn)
{
	switch (r->kind) {
	case KRT_RP_SWITCH:
		if (KEY_IS(k, kn, "prev_pid")) {
			*got |= NEED_PREV;
			return parse_pid(v, vn, &r->prev_pid);
		}
		if (KEY_IS(k, kn, "next_pid")) {
			*got |= NEED_NEXT;
			return parse_pid(v, vn, &r->next_pid);
		}
		if (KEY_IS(k, kn, "prev_state"))
			return parse_prev_state(v, vn, &r->prev_state);
		if (KEY_IS(k, kn, "prev_comm"))
			copy_comm(r->prev_comm, v, vn);
		else if (KEY_IS(k, kn, "next_comm"))
			copy_comm(r->next_comm, v, vn);
		return true;
	case KRT_RP_FORK:
		/* Kernels before 6.x print comm/pid, newer parent_comm/parent_pid. */
		if (KEY_IS(k, kn, "child_pid")) {
			*got |= NEED_CHILD;
			return parse_pid(v, vn, &r->child_pid);
		}
		if (KEY_IS(k, kn, "child_comm"))
			copy_comm(r->child_comm, v, vn);
		else if (KEY_IS(k, kn, "pid") || KEY_IS(k, kn, "parent_pid"))
			return parse_pid(v, vn, &r->pid);
		return true;
	case KRT_RP_EXIT:
	case KRT_RP_WAKEUP:
		if (KEY_IS(k, kn, "pid")) {
			*got |= NEED_PID;
			return parse_pid(v, vn, &r->pid);
		}
		return true;
	case KRT_RP_SYS_ENTER:
		if (KEY_IS(k, kn, "fd")) {
			__u64 fd;

			*got |= NEED_FD;
			if (!parse_u64(v, vn, &fd))
				return false;
			/* The kernel prints the int fd widened: keep its low 32 bits. */
			r->fd = (__s32)(__u32)fd;
			return true;
		}
		if (KEY_IS(k, kn, "size") || KEY_IS(k, kn, "len") || KEY_IS(k, kn, "count")) {
			r->has |= KRT_RP_HAS_SIZE;
			return parse_u64(v, vn, &r->size);
		}
		if (KEY_IS(k, kn, "__syscall_nr"))
			(void)parse_u32(v, vn, &r->syscall_nr); /* informational only */
		return true;
	case KRT_RP_SYS_EXIT:
		if (KEY_IS(k, kn, "ret")) {
			*got |= NEED_RET;
			return parse_s64(v, vn, &r->ret);
		}
		if (KEY_IS(k, kn, "__syscall_nr"))
			(void)parse_u32(v, vn, &r->syscall_nr); /* informational only */
		return true;
	case KRT_RP_GO_EXECUTE:
	case KRT_RP_GO_START:
	case KRT_RP_GO_READY:
		return take_go_field(r, got, k, kn, v, vn);
	default:
		break;
	}

	/* tcp_probe, tcp_rcv_space_adjust, inet_sock_set_state */
	switch (kn) {
	case 5:
		if (!memcmp(k, "sport", 5)) {
			__u32 p;

			*got |= NEED_SPORT;
			if (!parse_u32(v, vn, &p) || p > 0xffff)
				return false;
			r->tuple.local.port = (__u16)p;
			return true;
		}
		if (!memcmp(k, "dport", 5)) {
			__u32 p;

			*got |= NEED_DPORT;
			if (!parse_u32(v, vn, &p) || p > 0xffff)
				return false;
			r->tuple.remote.port = (__u16)p;
			return true;
		}
		if (!memcmp(k, "saddr", 5) || !memcmp(k, "daddr", 5)) {
			bool src = k[0] == 's';
			struct krt_addr *a = src ? &as->s4 : &as->d4;

			if (vn == 0)
				return true; /* daddr= of a listening socket */
			*got |= src ? NEED_SADDR : NEED_DADDR;
			if (r->kind == KRT_RP_TCP_PROBE)
				return parse_sockaddr_field(v, vn, a);
			return parse_ip_field(v, vn, a, false);
		}
		break;
	case 3:
	case 4:
		/* Formatted tcp_probe: src=IP:PORT dest=IP:PORT ("[v6]:PORT"). */
		if (KEY_IS(k, kn, "src") || KEY_IS(k, kn, "dest")) {
			bool src = kn == 3;

			*got |= src ? NEED_SADDR | NEED_SPORT : NEED_DADDR | NEED_DPORT;
			return parse_ip_port_text(v, vn, src ? &as->s4 : &as->d4,
						  src ? &r->tuple.local.port
						      : &r->tuple.remote.port);
		}
		break;
	case 6:
		if (!memcmp(k, "family", 6)) {
			as->have_family = true;
			return parse_family(v, vn, &as->family);
		}
		if (!memcmp(k, "skaddr", 6)) {
			/* a pointer: 0x-hex, or the kernel's hashed %p (hex without 0x) */
			r->has |= KRT_RP_HAS_SKADDR;
			return parse_hex_u64(v, vn, &r->skaddr);
		}
		break;
	case 8:
		if (!memcmp(k, "data_len", 8)) {
			r->has |= KRT_RP_HAS_DATA_LEN;
			return parse_u32(v, vn, &r->data_len);
		}
		if (!memcmp(k, "oldstate", 8)) {
			*got |= NEED_OLD;
			return parse_tcp_state(v, vn, &r->oldstate);
		}
		if (!memcmp(k, "newstate", 8)) {
			*got |= NEED_NEW;
			return parse_tcp_state(v, vn, &r->newstate);
		}
		if (!memcmp(k, "saddr_v6", 8) || !memcmp(k, "daddr_v6", 8)) {
			bool src = k[0] == 's';
			struct krt_addr *a = src ? &as->s6 : &as->d6;

			if (vn == 0)
				return true;
			if (src)
				as->has_s6 = true;
			else
				as->has_d6 = true;
			return parse_ip_field(v, vn, a, true);
		}
		break;
	case 7:
		/* Formatted (kernel print format): saddrv6=::ffff:10.0.0.1 */
		if (!memcmp(k, "saddrv6", 7) || !memcmp(k, "daddrv6", 7)) {
			bool src = k[0] == 's';

			if (src)
				as->has_s6 = true;
			else
				as->has_d6 = true;
			return parse_ip_text(v, vn, src ? &as->s6 : &as->d6, true);
		}
		break;
	case 11:
		if (!memcmp(k, "sock_cookie", 11)) {
			/* printed with %llx: hex without "0x" */
			r->has |= KRT_RP_HAS_COOKIE;
			return parse_hex_u64(v, vn, &r->sock_cookie);
		}
		break;
	}
	return true;
}

/* Picks the addresses by family once all fields are read. */
/* The 4-byte field of an IPv6 socket: its IPv4 address if v4-mapped, else a placeholder. */
static bool real_v4(const struct krt_addr *a)
{
	static const __u8 loopback4_ipv6[4] = {127, 0, 0, 6}; /* the kernel's LOOPBACK4_IPV6 */

	return a->family == KRT_AF_INET && (a->addr[0] | a->addr[1] | a->addr[2] | a->addr[3]) &&
	       memcmp(a->addr, loopback4_ipv6, 4);
}

static bool finish_addresses(struct krt_report_record *r, struct addr_scratch *as,
			     unsigned int *got)
{
	__u16 sp = r->tuple.local.port, dp = r->tuple.remote.port;
	bool want6 = as->have_family && as->family == KRT_AF_INET6;

	if (as->have_family && as->family != KRT_AF_INET && as->family != KRT_AF_INET6)
		return false;
	if (r->kind != KRT_RP_TCP_PROBE && want6) {
		if (as->has_s6 && as->has_d6) {
			r->tuple.local = as->s6;
			r->tuple.remote = as->d6;
		} else if (real_v4(&as->s4) && (real_v4(&as->d4) || !(*got & NEED_DADDR))) {
			/* v4-mapped socket of a dual-stack server: its IPv4 addresses */
			r->tuple.local = as->s4;
			r->tuple.remote = as->d4;
		} else {
			memset(&r->tuple, 0, sizeof(r->tuple)); /* ports only */
		}
		*got |= NEED_SADDR | NEED_DADDR;
	} else {
		r->tuple.local = as->s4;
		r->tuple.remote = as->d4;
		if (r->kind == KRT_RP_TCP_PROBE && want6 &&
		    !(r->tuple.local.family && r->tuple.remote.family)) {
			memset(&r->tuple, 0, sizeof(r->tuple)); /* sockaddr_in6 lost: ports only */
			*got |= NEED_SADDR | NEED_DADDR;
		}
	}
	/* The sockaddr form carries ports too; the sport/dport fields win. */
	if (*got & NEED_SPORT)
		r->tuple.local.port = sp;
	else if (r->tuple.local.family)
		*got |= NEED_SPORT;
	if (*got & NEED_DPORT)
		r->tuple.remote.port = dp;
	else if (r->tuple.remote.family)
		*got |= NEED_DPORT;
	/* A listening or unconnected socket has no remote address. */
	if (r->kind == KRT_RP_SOCK_STATE && !(*got & NEED_DADDR) && r->tuple.local.family) {
		r->tuple.remote.family = r->tuple.local.family;
		*got |= NEED_DADDR;
	}
	krt_addr_unmap_v4(&r->tuple.local);
	krt_addr_unmap_v4(&r->tuple.remote);
	if (r->tuple.local.family && r->tuple.remote.family)
		r->has |= KRT_RP_HAS_ADDR;
	return true;
}

/* "SECS.FRAC" (micro- or nanoseconds) -> ns. */
static bool parse_timestamp(const char *s, size_t n, __u64 *ns)
{
	__u64 secs = 0, frac = 0;
	size_t i = 0, digits = 0;

	while (i < n && is_digit(s[i])) {
		if (secs > 100000000000ULL)
			return false;
		secs = secs * 10 + (__u64)(s[i] - '0');
		i++;
	}
	if (i == 0)
		return false;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && is_digit(s[i])) {
			if (digits < 9) {
				frac = frac * 10 + (__u64)(s[i] - '0');
				digits++;
			}
			i++;
		}
	}
	if (i != n)
		return false;
	while (digits < 9) {
		frac *= 10;
		digits++;
	}
	*ns = secs * 1000000000ULL + frac;
	return true;
}

/* A loss marker: n events lost (at least one when the count is not printed). */
static int lost_line(struct krt_report_parser *p, struct krt_report_record *rec, __u64 n)
{
	memset(rec, 0, sizeof(*rec));
	rec->kind = KRT_RP_LOST;
	rec->lost = n ? n : 1;
	p->lost_events += rec->lost;
	return 1;
}

/*
 * Lines that are not events: headers, "CPU n is empty", loss markers: the
 * kernel's "[LOST n EVENTS]" and trace-cmd report's "CPU:n [m EVENTS
 * DROPPED]" or "CPU:n [EVENTS DROPPED]" (count unknown). A loss marker is
 * never a header: losses are counted and shown, never silent.
 */
static int non_event_line(struct krt_report_parser *p, const char *s, const char *e,
			  struct krt_report_record *rec)
{
	const char *l = memmem(s, (size_t)(e - s), "LOST ", 5);
	const char *dr = memmem(s, (size_t)(e - s), "EVENTS DROPPED]", 15);

	if (dr) {
		const char *q = dr;
		__u64 n = 0;

		while (q > s && q[-1] == ' ')
			q--;
		l = q;
		while (l > s && is_digit(l[-1]))
			l--;
		if (l < q && !parse_u64(l, (size_t)(q - l), &n))
			n = 0;
		return lost_line(p, rec, n);
	}
	if (l) {
		__u64 n = 0;
		const char *d = l + 5;
		const char *q = d;

		while (q < e && is_digit(*q))
			q++;
		if (q > d && parse_u64(d, (size_t)(q - d), &n))
			return lost_line(p, rec, n);
	}
	/* '#': the header and "##### CPU 1 buffer started ####" of the kernel's trace file */
	if (*s == '#' || (e - s >= 3 && !strncasecmp(s, "cpu", 3)) ||
	    (e - s >= 7 && !memcmp(s, "version", 7)) || memmem(s, (size_t)(e - s), "is empty", 8))
		return 0;
	p->cause = "no [CPU] column";
	return -1;
}

static int malformed(struct krt_report_parser *p, const char *cause)
{
	p->cause = cause;
	p->malformed++;
	if (p->diag && p->malformed <= KRT_RP_MAX_REPORTED) {
		fprintf(p->diag, "%s:%llu: %s\n", p->name, (unsigned long long)p->lineno, cause);
		if (p->malformed == KRT_RP_MAX_REPORTED)
			fprintf(p->diag, "%s: further malformed lines are only counted\n", p->name);
	}
	return -1;
}

/* Finds " [NNN]" (the CPU column); comm may contain '[' itself. */
static const char *find_cpu_column(const char *s, const char *e, __u32 *cpu)
{
	const char *b = s;

	while ((b = memchr(b, '[', (size_t)(e - b))) != NULL) {
		const char *d = b + 1;
		__u32 v = 0;

		while (d < e && is_digit(*d) && d - b < 8)
			v = v * 10 + (__u32)(*d++ - '0');
		if (d > b + 1 && d < e && *d == ']' && b > s && b[-1] == ' ') {
			*cpu = v;
			return b;
		}
		b++;
	}
	return NULL;
}

static bool is_tcp_kind(int kind)
{
	return kind == KRT_RP_TCP_PROBE || kind == KRT_RP_RCV_SPACE || kind == KRT_RP_SOCK_STATE;
}

/*
 * The "key=value" fields of [t, e). *cut: the line ends with an empty value,
 * as when trace-cmd prints a byte array holding "\n" as a string.
 */
static bool parse_fields(struct krt_report_record *rec, struct addr_scratch *as, unsigned int *got,
			 const char *t, const char *e, bool *cut)
{
	const char *next_eq = NULL;

	*cut = false;
	while (t < e) {
		const char *k, *ke, *ve;

		if (!next_eq) {
			while (t < e && *t == ' ')
				t++;
			if (t == e)
				break;
			k = t;
			while (t < e && is_ident(*t))
				t++;
			ke = t;
			if (t == e || *t != '=' || ke == k) {
				/* not a field ("==>"): skip the token */
				while (t < e && *t != ' ')
					t++;
				continue;
			}
		} else {
			k = t;
			ke = next_eq;
		}
		t = ke + 1;
		ve = value_end(t, e, &t, &next_eq);
		if (!take_field(rec, as, got, k, (size_t)(ke - k), ke + 1, (size_t)(ve - ke - 1)))
			return false;
		*cut = ve == ke + 1 && ve == e;
	}
	return true;
}

#define KRT_MAX_RW_COUNT 0x7ffff000LL

static int finish_record(struct krt_report_parser *p, struct krt_report_record *rec,
			 struct addr_scratch *as, unsigned int got)
{
	unsigned int need;

	if (is_tcp_kind(rec->kind) && !finish_addresses(rec, as, &got))
		return malformed(p, "bad address family");
	if (rec->kind == KRT_RP_EXIT && !(got & NEED_PID)) {
		rec->pid = rec->tid; /* the exiting task is the current one */
		got |= NEED_PID;
	}
	if (rec->kind == KRT_RP_FORK && !rec->pid)
		rec->pid = rec->tid;
	need = required_fields(rec->kind);
	if ((got & need) != need)
		return malformed(p, missing_name(need & ~got));
	/*
	 * One read or write moves at most MAX_RW_COUNT bytes (INT_MAX rounded
	 * down to a page): a larger ret is a corrupt line, not a hop of
	 * 2^63 bytes.
	 */
	if (rec->kind == KRT_RP_SYS_EXIT && rec->ret > KRT_MAX_RW_COUNT)
		return malformed(p, "impossible byte count (ret above 0x7ffff000, the kernel's "
				    "limit per call)");
	p->records++;
	return 1;
}

/* ---- formatted events (trace-cmd report without -R, the kernel's trace) - */

static bool starts_with(const char *s, const char *e, const char *lit)
{
	size_t n = strlen(lit);

	return (size_t)(e - s) >= n && !memcmp(s, lit, n);
}

/*
 * Events whose text without -R is not "key=value": trace-cmd's plugins
 * print sched_switch as "comm:pid [prio] S ==> comm:pid [prio]" and
 * sched_wakeup as "comm:pid [prio] CPU:001"; the kernel prints syscall
 * arguments as "fd: 0x3, buf: 0x..." and a syscall's return as the bare
 * value. Each line says which form it has.
 */
static bool is_formatted(int kind, const char *t, const char *e)
{
	const char *k = t;

	switch (kind) {
	case KRT_RP_SWITCH:
		return !starts_with(t, e, "prev_comm=") && !starts_with(t, e, "prev_pid=");
	case KRT_RP_WAKEUP:
		return !starts_with(t, e, "comm=") && !starts_with(t, e, "pid=");
	case KRT_RP_SYS_ENTER:
		while (k < e && is_ident(*k))
			k++;
		return k > t && k < e && *k == ':';
	case KRT_RP_SYS_EXIT:
		return t < e && (is_digit(*t) || *t == '-');
	}
	return false;
}

/* "comm:pid" ending at e (comm may hold ':' itself): the pid after the last ':'. */
static bool parse_comm_pid(const char *s, const char *e, char *comm, __u32 *pid)
{
	const char *c = e;

	while (c > s && c[-1] != ':')
		c--;
	if (c == s || c == e)
		return false;
	copy_comm(comm, s, (size_t)(c - 1 - s));
	return parse_pid(c, (size_t)(e - c), pid);
}

/* Drops a trailing " [prio]" from [s, *e). */
static void drop_prio(const char *s, const char **e)
{
	const char *q = *e;

	if (q > s && q[-1] == ']') {
		while (q > s && q[-1] != '[')
			q--;
		if (q > s && q[-1] == '[') {
			q--;
			while (q > s && q[-1] == ' ')
				q--;
			*e = q;
		}
	}
}

static int parse_formatted_switch(struct krt_report_parser *p, struct krt_report_record *rec,
				  const char *t, const char *e)
{
	const char *arrow = NULL, *q, *le, *st;

	/* the last " ==> ": a comm may contain anything */
	for (q = t; (q = memmem(q, (size_t)(e - q), " ==> ", 5)) != NULL; q++)
		arrow = q;
	if (!arrow)
		return malformed(p, "sched_switch: no '==>'");
	/* right: NEXT_COMM:NEXT_PID [PRIO] */
	q = arrow + 5;
	le = e;
	drop_prio(q, &le);
	if (!parse_comm_pid(q, le, rec->next_comm, &rec->next_pid))
		return malformed(p, "sched_switch: bad next comm:pid");
	/* left: PREV_COMM:PREV_PID [PRIO] STATE */
	le = arrow;
	st = le;
	while (st > t && st[-1] != ' ')
		st--;
	if (st == t || !parse_prev_state(st, (size_t)(le - st), &rec->prev_state))
		return malformed(p, "sched_switch: bad prev state");
	le = st;
	while (le > t && le[-1] == ' ')
		le--;
	drop_prio(t, &le);
	if (!parse_comm_pid(t, le, rec->prev_comm, &rec->prev_pid))
		return malformed(p, "sched_switch: bad prev comm:pid");
	return 1;
}

/* "fd: 0x3, buf: 0x7ff..., count: 0x100" (commas maybe without the space) */
static int parse_formatted_sys_enter(struct krt_report_parser *p, struct krt_report_record *rec,
				     const char *t, const char *e)
{
	bool have_fd = false;

	while (t < e) {
		const char *k = t, *ke, *v, *ve;

		while (t < e && is_ident(*t))
			t++;
		ke = t;
		if (ke == k || t == e || *t != ':')
			return malformed(p, "syscall arguments: expected 'name: value'");
		v = t + 1;
		while (v < e && *v == ' ')
			v++;
		ve = memchr(v, ',', (size_t)(e - v));
		if (!ve)
			ve = e;
		t = ve < e ? ve + 1 : e;
		while (t < e && *t == ' ')
			t++;
		if (KEY_IS(k, (size_t)(ke - k), "fd")) {
			__u64 fd;

			if (!parse_u64(v, (size_t)(ve - v), &fd))
				return malformed(p, "bad field value");
			rec->fd = (__s32)(__u32)fd;
			have_fd = true;
		} else if (KEY_IS(k, (size_t)(ke - k), "size") ||
			   KEY_IS(k, (size_t)(ke - k), "len") ||
			   KEY_IS(k, (size_t)(ke - k), "count")) {
			if (!parse_u64(v, (size_t)(ve - v), &rec->size))
				return malformed(p, "bad field value");
			rec->has |= KRT_RP_HAS_SIZE;
		}
	}
	if (!have_fd)
		return malformed(p, "missing field fd");
	return 1;
}

/* sched_wakeup by trace-cmd's plugin: "comm:pid [prio] [success=1] CPU:001" */
static int parse_formatted_wakeup(struct krt_report_parser *p, struct krt_report_record *rec,
				  const char *t, const char *e)
{
	const char *q = memmem(t, (size_t)(e - t), " [", 2);
	char comm[KRT_COMM_LEN];

	if (!q) {
		q = e; /* no prio: the comm:pid is all there is, up to " CPU:" */
		if ((q = memmem(t, (size_t)(e - t), " CPU:", 5)) == NULL)
			q = e;
	}
	if (!parse_comm_pid(t, q, comm, &rec->pid))
		return malformed(p, "sched_wakeup: bad comm:pid");
	return 1;
}

static int parse_formatted(struct krt_report_parser *p, struct krt_report_record *rec,
			   const char *t, const char *e)
{
	int rc;

	switch (rec->kind) {
	case KRT_RP_SWITCH:
		rc = parse_formatted_switch(p, rec, t, e);
		break;
	case KRT_RP_WAKEUP:
		rc = parse_formatted_wakeup(p, rec, t, e);
		break;
	case KRT_RP_SYS_ENTER:
		rc = parse_formatted_sys_enter(p, rec, t, e);
		break;
	default: /* KRT_RP_SYS_EXIT: the return value alone */
		if (!parse_s64(t, (size_t)(e - t), &rec->ret))
			return malformed(p, "bad return value");
		rc = 1;
		break;
	}
	if (rc == 1)
		p->records++;
	return rc;
}

/*
 * The kernel's own trace text prints syscall events its own way:
 * "sys_write(fd: 1, buf: 0x55d0, count: 2)" at entry and "sys_write -> 0x2"
 * at exit. name..t is the event name, *t is '(' or ' '.
 */
static int kernel_syscall(struct krt_report_parser *p, struct krt_report_record *rec,
			  const char *name, const char *t, const char *e)
{
	size_t nl = (size_t)(t - name);
	int sys = nl > 4 && !memcmp(name, "sys_", 4) ? syscall_by_name(name + 4, nl - 4) : 0;
	const char *a;

	if (*t == '(') {
		const char *close = e;

		while (close > t && close[-1] != ')')
			close--;
		if (close == t)
			return malformed(p, "syscall entry: no ')'");
		if (!sys) {
			p->unknown_events++;
			return 0;
		}
		rec->kind = KRT_RP_SYS_ENTER;
		rec->sys = sys;
		rec->fd = -1;
		return parse_formatted(p, rec, t + 1, close - 1);
	}
	a = t;
	while (a < e && *a == ' ')
		a++;
	if (!starts_with(a, e, "-> "))
		return malformed(p, "no event name");
	if (!sys) {
		p->unknown_events++;
		return 0;
	}
	rec->kind = KRT_RP_SYS_EXIT;
	rec->sys = sys;
	rec->fd = -1;
	return parse_formatted(p, rec, a + 3, e);
}

/* The record held across a line break never got its other lines. */
static void drop_cut_record(struct krt_report_parser *p)
{
	__u64 lineno = p->lineno;

	p->cont = false;
	p->lineno = p->cont_lineno;
	malformed(p, "record cut by a line break and not continued");
	p->lineno = lineno;
}

/* A line that continues the held record: " daddr=", " sport=1 dport=2 ...". */
static int continue_record(struct krt_report_parser *p, const char *s, const char *e,
			   struct krt_report_record *rec)
{
	bool cut;

	if (!parse_fields(&p->cont_rec, &p->cont_as, &p->cont_got, s, e, &cut)) {
		p->cont = false;
		return malformed(p, "bad field value");
	}
	if (cut && ++p->cont_lines < MAX_CONT_LINES)
		return 0;
	p->cont = false;
	*rec = p->cont_rec;
	return finish_record(p, rec, &p->cont_as, p->cont_got);
}

static bool starts_with_field(const char *s, const char *e)
{
	const char *k = s;

	while (k < e && is_ident(*k))
		k++;
	return k > s && k < e && *k == '=';
}

int krt_rp_parse_line(struct krt_report_parser *p, const char *line, size_t len,
		      struct krt_report_record *rec)
{
	const char *s = line, *e = line + len;
	const char *b, *ce, *dash, *t, *te, *name;
	struct addr_scratch as;
	unsigned int got = 0;
	bool cut;
	__u32 cpu = 0;
	int kind, sys;

	while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	if (s == e)
		return 0;

	b = find_cpu_column(s, e, &cpu);
	if (p->cont) {
		if (!b && line < s && starts_with_field(s, e))
			return continue_record(p, s, e, rec);
		drop_cut_record(p);
	}
	if (!b) {
		int rc = non_event_line(p, s, e, rec);

		return rc < 0 ? malformed(p, p->cause) : rc;
	}

	/* COMM-TID, maybe followed by "(TGID)"; split at the last '-'. */
	ce = b;
	while (ce > s && ce[-1] == ' ')
		ce--;
	if (ce > s && ce[-1] == ')') {
		const char *o = ce - 1;

		while (o > s && *o != '(')
			o--;
		if (*o == '(') {
			ce = o;
			while (ce > s && ce[-1] == ' ')
				ce--;
		}
	}
	dash = ce;
	while (dash > s && dash[-1] != '-')
		dash--;
	if (dash == s)
		return malformed(p, "no COMM-TID before [CPU]");

	/* After the CPU column: optional latency flags, then "SECS.FRAC:". */
	t = memchr(b, ']', (size_t)(e - b)) + 1;
	for (int tok = 0;; tok++) {
		while (t < e && *t == ' ')
			t++;
		te = t;
		while (te < e && *te != ' ')
			te++;
		if (te > t && te[-1] == ':' && is_digit(*t))
			break;
		if (tok == 2 || te == e)
			return malformed(p, "no timestamp");
		t = te;
	}

	memset(rec, 0, sizeof(*rec));
	if (!parse_timestamp(t, (size_t)(te - t - 1), &rec->ts_ns))
		return malformed(p, "bad timestamp");
	if (!parse_pid(dash, (size_t)(ce - dash), &rec->tid))
		return malformed(p, "bad TID");
	rec->cpu = cpu;
	copy_comm(rec->comm, s, (size_t)(dash - 1 - s));

	/* EVENT: */
	name = te;
	while (name < e && *name == ' ')
		name++;
	t = name;
	while (t < e && *t != ':' && *t != ' ' && *t != '(')
		t++;
	if (t < e && t > name && *t != ':')
		return kernel_syscall(p, rec, name, t, e);
	if (t == e || *t != ':' || t == name)
		return malformed(p, "no event name");
	kind = event_kind(name, (size_t)(t - name), &sys);
	if (kind == KRT_RP_SKIP) {
		p->unknown_events++;
		return 0;
	}
	rec->kind = kind;
	rec->sys = sys;
	rec->fd = -1;
	t++;

	while (t < e && *t == ' ')
		t++;
	if (is_formatted(kind, t, e))
		return parse_formatted(p, rec, t, e);
	memset(&as, 0, sizeof(as));
	if (!parse_fields(rec, &as, &got, t, e, &cut))
		return malformed(p, kind >= KRT_RP_GO_EXECUTE
					? "bad goroutine field value (g=0x<pointer>, goid=<n > 0>, "
					  "skip=<n>, proc=<n>)"
					: "bad field value");
	if (cut && kind == KRT_RP_TCP_PROBE &&
	    (got & required_fields(kind)) != required_fields(kind)) {
		/* A value printed with a newline in it: the record goes on. */
		p->cont = true;
		p->cont_lines = 0;
		p->cont_got = got;
		p->cont_lineno = p->lineno;
		p->cont_rec = *rec;
		p->cont_as = as;
		return 0;
	}
	return finish_record(p, rec, &as, got);
}

static void handle_line(struct krt_report_parser *p, const char *s, size_t n, krt_rp_record_fn fn,
			void *ctx)
{
	struct krt_report_record rec;

	p->lineno++;
	p->lines++;
	if (krt_rp_parse_line(p, s, n, &rec) == 1)
		fn(&rec, ctx);
}

void krt_rp_parse_buffer(struct krt_report_parser *p, const char *buf, size_t len,
			 krt_rp_record_fn fn, void *ctx)
{
	const char *s = buf, *e = buf + len;

	p->bytes += len;
	while (s < e) {
		const char *nl = memchr(s, '\n', (size_t)(e - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(e - s);

		if (n > KRT_RP_MAX_LINE) {
			p->lineno++;
			p->lines++;
			malformed(p, "line too long");
		} else {
			handle_line(p, s, n, fn, ctx);
		}
		if (!nl)
			break;
		s = nl + 1;
	}
	if (p->cont)
		drop_cut_record(p);
}

int krt_rp_read_stream(struct krt_report_parser *p, FILE *f, krt_rp_record_fn fn, void *ctx)
{
	/* One block plus room for the partial line carried over from the previous one. */
	size_t cap = READ_BLOCK + KRT_RP_MAX_LINE;
	char *buf = malloc(cap);
	size_t have = 0;       /* bytes in buf not yet parsed */
	bool skipping = false; /* inside an over-long line: drop until '\n' */
	int rc = 0;

	if (!buf)
		return -1;
	for (;;) {
		size_t got = fread(buf + have, 1, cap - have, f);
		const char *s = buf, *e;

		if (got == 0) {
			if (ferror(f)) {
				rc = -1;
				break;
			}
			/*
			 * End of input without a newline: trace-cmd ends every
			 * line, so the capture was cut mid-write. Its last value
			 * may be a prefix ("ret=0x4" of 0x49): reported, counted,
			 * never parsed.
			 */
			if (have > 0 && !skipping) {
				p->lineno++;
				p->lines++;
				p->malformed++;
				if (p->diag)
					fprintf(p->diag,
						"%s:%llu: last line cut (no newline): not "
						"parsed\n",
						p->name, (unsigned long long)p->lineno);
			}
			if (p->cont)
				drop_cut_record(p);
			break;
		}
		p->bytes += got;
		e = buf + have + got;
		while (s < e) {
			const char *nl = memchr(s, '\n', (size_t)(e - s));

			if (!nl)
				break;
			if (skipping)
				skipping = false;
			else
				handle_line(p, s, (size_t)(nl - s), fn, ctx);
			s = nl + 1;
		}
		have = (size_t)(e - s);
		if (skipping) {
			have = 0; /* still inside the long line: drop it */
		} else if (have > KRT_RP_MAX_LINE) {
			p->lineno++;
			p->lines++;
			malformed(p, "line too long");
			skipping = true;
			have = 0;
		} else if (have > 0 && s != buf) {
			memmove(buf, s, have);
		}
	}
	free(buf);
	return rc;
}
