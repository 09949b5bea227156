/*
 * Unit tests for Go binary inspection (src/go_binary.c): the parsers on bytes
 * made here, and the whole inspection on the Go test services `make` builds
 * with the installed Go (skipped when Go is not installed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "go_binary.h"

static void test_parse_version(void **state)
{
	int ma = -1, mi = -1;

	assert_int_equal(krt_go_parse_version("go1.19.8", &ma, &mi), 0);
	assert_int_equal(ma, 1);
	assert_int_equal(mi, 19);
	assert_int_equal(krt_go_parse_version("go1.21rc2", &ma, &mi), 0);
	assert_int_equal(mi, 21);
	assert_int_equal(krt_go_parse_version("devel go1.22-abc", &ma, &mi), -1);
	assert_int_equal(krt_go_parse_version("go", &ma, &mi), -1);
	assert_int_equal(krt_go_parse_version("go1", &ma, &mi), -1);
}

static size_t make_buildinfo(uint8_t *buf, uint8_t flags, const char *version)
{
	size_t n = strlen(version);

	memset(buf, 0, 64);
	memcpy(buf, "\xff Go buildinf:", 14);
	buf[14] = 8;
	buf[15] = flags;
	buf[32] = (uint8_t)n;
	memcpy(buf + 33, version, n);
	return 33 + n + 1;
}

static void test_parse_buildinfo(void **state)
{
	uint8_t buf[64];
	char v[32];
	size_t n = make_buildinfo(buf, 2, "go1.19.8");

	assert_int_equal(krt_go_parse_buildinfo(buf, n, v, sizeof(v)), 0);
	assert_string_equal(v, "go1.19.8");
	/* before Go 1.18 (pointers, not inline strings): Go, version unknown */
	n = make_buildinfo(buf, 0, "go1.16");
	assert_int_equal(krt_go_parse_buildinfo(buf, n, v, sizeof(v)), 0);
	assert_string_equal(v, "");
	/* a length past the end, a wrong magic, too short: rejected */
	n = make_buildinfo(buf, 2, "go1.19.8");
	buf[32] = 200;
	assert_int_equal(krt_go_parse_buildinfo(buf, n, v, sizeof(v)), -1);
	n = make_buildinfo(buf, 2, "go1.19.8");
	buf[1] = 'X';
	assert_int_equal(krt_go_parse_buildinfo(buf, n, v, sizeof(v)), -1);
	assert_int_equal(krt_go_parse_buildinfo(buf, 20, v, sizeof(v)), -1);
}

/*
 * A DWARF 4 unit with: a compile unit holding structure "runtime.m" (member
 * goid at 99: a decoy), then "runtime.g" with members "stack" (0) and "goid"
 * at 152 (udata), and a member "goid" outside any structure (decoy).
 */
static const uint8_t abbrev[] = {
	1, 0x11, 1, 0x03, 0x08, 0, 0,		 /* 1: compile_unit, children, name string */
	2, 0x13, 1, 0x03, 0x08, 0x0b, 0x0f, 0, 0, /* 2: structure_type, children, name, byte_size */
	3, 0x0d, 0, 0x03, 0x08, 0x38, 0x0f, 0, 0, /* 3: member, name, data_member_location udata */
	0,
};

static size_t make_info(uint8_t *b, bool truncate)
{
	size_t n = 11;

#define STR(s) (memcpy(b + n, s, sizeof(s)), n += sizeof(s))
	b[4] = 4, b[5] = 0;			/* version 4 */
	memset(b + 6, 0, 4);			/* abbrev offset 0 */
	b[10] = 8;				/* address size */
	b[n++] = 1, STR("runtime");
	b[n++] = 2, STR("runtime.m"), b[n++] = 0x80, b[n++] = 0x01;
	b[n++] = 3, STR("goid"), b[n++] = 99;
	b[n++] = 0;				/* end of runtime.m */
	b[n++] = 2, STR("runtime.g"), b[n++] = 0x90, b[n++] = 0x03;
	b[n++] = 3, STR("stack"), b[n++] = 0;
	b[n++] = 3, STR("goid"), b[n++] = 0x98, b[n++] = 0x01;	/* 152 */
	b[n++] = 0;				/* end of runtime.g */
	b[n++] = 0;				/* end of the unit */
#undef STR
	if (truncate)
		n -= 12;
	b[0] = (uint8_t)(n - 4), b[1] = b[2] = b[3] = 0;
	return n;
}

static void test_dwarf_goid(void **state)
{
	uint8_t info[256];
	size_t n = make_info(info, false);

	assert_int_equal(krt_go_dwarf_member_offset(info, n, abbrev, sizeof(abbrev), "runtime.g",
						    "goid"), 152);
	assert_int_equal(krt_go_dwarf_member_offset(info, n, abbrev, sizeof(abbrev), "runtime.g",
						    "stack"), 0);
	assert_int_equal(krt_go_dwarf_member_offset(info, n, abbrev, sizeof(abbrev), "runtime.m",
						    "goid"), 99);
	assert_int_equal(krt_go_dwarf_member_offset(info, n, abbrev, sizeof(abbrev), "runtime.g",
						    "sched"), -1);
	/* the decoy in runtime.m is not taken: without runtime.g, no answer */
	memcpy(memmem(info, n, "runtime.g", 9), "runtime.x", 9);
	assert_int_equal(krt_go_dwarf_member_offset(info, n, abbrev, sizeof(abbrev), "runtime.g", "goid"), -1);
	/* truncated unit, an unknown form, a bad abbrev offset: -1, no crash */
	n = make_info(info, true);
	assert_int_equal(krt_go_dwarf_member_offset(info, n, abbrev, sizeof(abbrev), "runtime.g", "goid"), -1);
	n = make_info(info, false);
	{
		uint8_t bad[sizeof(abbrev)];

		memcpy(bad, abbrev, sizeof(bad));
		bad[4] = 0x7e;	/* compile unit's name form: unknown */
		assert_int_equal(krt_go_dwarf_member_offset(info, n, bad, sizeof(bad), "runtime.g", "goid"), -1);
	}
	info[6] = 200;
	assert_int_equal(krt_go_dwarf_member_offset(info, n, abbrev, sizeof(abbrev), "runtime.g", "goid"), -1);
	assert_int_equal(krt_go_dwarf_member_offset(info, 5, abbrev, sizeof(abbrev), "runtime.g", "goid"), -1);
}

static void test_not_go_and_bad_files(void **state)
{
	struct krt_go_info gi;
	char err[256] = "", path[] = "/tmp/krt-go-test-XXXXXX";
	int fd;

	assert_int_equal(krt_go_inspect("/proc/self/exe", &gi, err, sizeof(err)), 0);
	assert_false(gi.is_go);
	assert_int_equal(krt_go_inspect("/nonexistent/x", &gi, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/x"));
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not an elf file at all", 22), 22);
	close(fd);
	assert_int_equal(krt_go_inspect(path, &gi, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not an ELF"));
	assert_non_null(strstr(err, path));
	unlink(path);
	assert_int_equal(krt_go_inspect_pid("/proc", getpid(), &gi, err, sizeof(err)), 0);
	assert_false(gi.is_go);
}

static const char *service(const char *name, char *buf, size_t len)
{
	const char *out = getenv("OUTPUT");

	snprintf(buf, len, "%s/services/%s", out ? out : ".output", name);
	return access(buf, X_OK) ? NULL : buf;
}

static void test_go_service(void **state)
{
	struct krt_go_info gi;
	char err[256], path[512];
	struct krt_go_hchan h;
	int goid, sched;

	if (!service("go-http", path, sizeof(path)))
		skip();
	assert_int_equal(krt_go_inspect(path, &gi, err, sizeof(err)), 0);
	assert_true(gi.is_go);
	assert_int_equal(strncmp(gi.version, "go1.", 4), 0);
	assert_true(gi.has_symtab);
	assert_true(gi.has_dwarf);
	assert_int_equal(gi.goid_from, KRT_GO_OFFSET_DWARF);
	for (int f = 0; f < KRT_GO_N_FUNCS; f++) {
		assert_true(gi.funcs[f].found);
		assert_true(gi.funcs[f].file_offset > 0);
		/* Go links text at 0x400000 + its file offset */
		assert_int_equal(gi.funcs[f].vaddr - gi.funcs[f].file_offset, 0x400000);
	}
	/* the checked table agrees with the binary's own DWARF for its version */
	if (!krt_go_offsets_table(gi.major, gi.minor, &goid, &sched)) {
		assert_int_equal(goid, gi.goid_offset);
		assert_int_equal(sched, gi.sched_offset);
	}
	assert_true(gi.goid_offset > 0);
	assert_true(gi.sched_offset > 0);
	/* runtime.hchan from DWARF, and the checked table agrees with it */
	assert_true(gi.chans);
	assert_int_equal(gi.hchan.qcount, 0);
	assert_true(gi.hchan.dataqsiz > 0 && gi.hchan.sendx > 0 && gi.hchan.recvx > 0);
	assert_true(gi.hchan.recvq > 0 && gi.hchan.sendq > gi.hchan.recvq);
	if (!krt_go_hchan_table(gi.major, gi.minor, &h)) {
		assert_int_equal(h.qcount, gi.hchan.qcount);
		assert_int_equal(h.dataqsiz, gi.hchan.dataqsiz);
		assert_int_equal(h.sendx, gi.hchan.sendx);
		assert_int_equal(h.recvx, gi.hchan.recvx);
		assert_int_equal(h.recvq, gi.hchan.recvq);
		assert_int_equal(h.sendq, gi.hchan.sendq);
	}
	assert_int_equal(krt_go_hchan_table(1, 7, &h), -1);
	/* the running goroutine at the hooks: g.m.curg from DWARF, the table agrees */
	assert_true(gi.g_m_offset > 0);
	assert_true(gi.m_curg_offset > 0);
	if (!krt_go_curg_table(gi.major, gi.minor, &goid, &sched)) {
		assert_int_equal(goid, gi.g_m_offset);
		assert_int_equal(sched, gi.m_curg_offset);
	}
	assert_int_equal(krt_go_curg_table(1, 7, &goid, &sched), -1);
	/* Go's own linker (no cgo in the services): no TLS segment, g at -8(FS) */
	assert_true(gi.tls_g_known);
	assert_int_equal(gi.tls_g_offset, -8);
	/* runtime.ready's hand-off wake-ups: channel operations (3, 4), not locks (5, 6) */
	if (gi.major == 1 && gi.minor == 19)
		assert_int_equal(gi.handoff_skips, 1u << 3 | 1u << 4);
	assert_int_equal(krt_go_handoff_skips(1, 7), 0);
#ifdef __x86_64__
	assert_true(gi.g_in_r14);
	assert_true(gi.usable);
#endif
}

static void test_go_stripped(void **state)
{
	struct krt_go_info gi;
	char err[256], path[512];

	if (!service("go-http-stripped", path, sizeof(path)))
		skip();
	assert_int_equal(krt_go_inspect(path, &gi, err, sizeof(err)), 0);
	assert_true(gi.is_go);
	assert_int_equal(strncmp(gi.version, "go1.", 4), 0);
	assert_false(gi.has_symtab);
	assert_false(gi.has_dwarf);
	assert_false(gi.funcs[KRT_GO_EXECUTE].found);
	assert_false(gi.usable);
	assert_non_null(strstr(gi.why, "no symbol table"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_version),	  cmocka_unit_test(test_parse_buildinfo),
		cmocka_unit_test(test_dwarf_goid),	  cmocka_unit_test(test_not_go_and_bad_files),
		cmocka_unit_test(test_go_service),	  cmocka_unit_test(test_go_stripped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
