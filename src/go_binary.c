/*
 * Go binary inspection (see go_binary.h): build info, runtime symbols and
 * runtime.g's goid offset, read with libelf (a dependency already) and a
 * small DWARF reader that knows just enough to find one struct member.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "go_binary.h"

static const char *const func_names[KRT_GO_N_FUNCS] = {
    [KRT_GO_EXECUTE] = "runtime.execute",
    [KRT_GO_GOSTARTCALLFN] = "runtime.gostartcallfn",
    [KRT_GO_READY] = "runtime.ready",
    [KRT_GO_NEWPROC1] = "runtime.newproc1",
    [KRT_GO_CASGSTATUS] = "runtime.casgstatus",
    [KRT_GO_CHANSEND] = "runtime.chansend",
    [KRT_GO_CHANRECV] = "runtime.chanrecv",
    [KRT_GO_SELECTGO] = "runtime.selectgo",
    [KRT_GO_GOREADY] = "runtime.goready",
    [KRT_GO_SEND] = "runtime.send",
    [KRT_GO_RECV] = "runtime.recv",
};

const char *krt_go_func_name(enum krt_go_func f)
{
	return f < KRT_GO_N_FUNCS ? func_names[f] : "?";
}

/*
 * Offsets of goid and sched in runtime.g when the binary has no DWARF
 * (-ldflags=-w).
 * Only versions whose layout was checked against the DWARF of a real build
 * are listed (tests/unit/test_go_binary.c checks the installed Go's build):
 * a wrong offset would read another field as the goroutine id and attribute
 * with confidence, which is worse than attributing by thread.
 *   1.19: 152 (Debian 12 golang-go 1.19.8, amd64; stack 16, stackguard0/1 16,
 *         _panic, _defer, m 24, sched gobuf 56, syscallsp/pc, stktopsp, param
 *         32, atomicstatus + stackLock 8); sched at 56
 */
static const struct {
	int major, minor, goid, sched;
} offsets_table[] = {
    {1, 19, 152, 56},
};

/* runtime.hchan, checked against DWARF (tests/unit/test_go_binary.c) */
static const struct {
	int major, minor;
	struct krt_go_hchan h;
} hchan_table[] = {
    {1, 19, {.qcount = 0, .dataqsiz = 8, .sendx = 40, .recvx = 48, .recvq = 56, .sendq = 72}},
};

/*
 * runtime.g's m and runtime.m's curg, checked against DWARF
 * (tests/unit/test_go_binary.c). 1.19: m after stack 16, stackguard0/1 16,
 * _panic, _defer; curg after g0, morebuf, divmod, procid, gsignal,
 * goSigStack, sigmask, tls, mstartfn.
 */
static const struct {
	int major, minor, g_m, m_curg;
} curg_table[] = {
    {1, 19, 48, 192},
};

int krt_go_curg_table(int major, int minor, int *g_m, int *m_curg)
{
	for (size_t i = 0; i < sizeof(curg_table) / sizeof(curg_table[0]); i++)
		if (curg_table[i].major == major && curg_table[i].minor == minor) {
			*g_m = curg_table[i].g_m;
			*m_curg = curg_table[i].m_curg;
			return 0;
		}
	return -1;
}

uint32_t krt_go_handoff_skips(int major, int minor)
{
	if (major == 1 && minor == 19)
		return 1u << 3 | 1u << 4;
	return 0;
}

int krt_go_hchan_table(int major, int minor, struct krt_go_hchan *h)
{
	for (size_t i = 0; i < sizeof(hchan_table) / sizeof(hchan_table[0]); i++)
		if (hchan_table[i].major == major && hchan_table[i].minor == minor) {
			*h = hchan_table[i].h;
			return 0;
		}
	return -1;
}

int krt_go_offsets_table(int major, int minor, int *goid, int *sched)
{
	for (size_t i = 0; i < sizeof(offsets_table) / sizeof(offsets_table[0]); i++)
		if (offsets_table[i].major == major && offsets_table[i].minor == minor) {
			*goid = offsets_table[i].goid;
			*sched = offsets_table[i].sched;
			return 0;
		}
	return -1;
}

int krt_go_parse_version(const char *version, int *major, int *minor)
{
	char *end;
	long ma, mi;

	if (strncmp(version, "go", 2))
		return -1;
	ma = strtol(version + 2, &end, 10);
	if (end == version + 2 || *end != '.')
		return -1;
	mi = strtol(end + 1, &end, 10);
	if (ma < 1 || ma > 99 || mi < 0 || mi > 999)
		return -1;
	*major = (int)ma;
	*minor = (int)mi;
	return 0;
}

static int read_uvarint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64 && *pos < len; shift += 7) {
		uint8_t b = p[(*pos)++];

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

/*
 * The section starts with "\xff Go buildinf:", a pointer size and a flags byte;
 * since Go 1.18 (flag 2) the version string follows at offset 32 as a varint
 * length and its bytes. Older linkers store pointers to string headers there
 * instead; those Go versions predate the register ABI and cannot be followed
 * anyway, so their version is reported unknown.
 */
int krt_go_parse_buildinfo(const uint8_t *data, size_t len, char *version, size_t vlen)
{
	static const char magic[] = "\xff Go buildinf:";
	size_t pos = 32;
	uint64_t n;

	version[0] = 0;
	if (len < 32 || memcmp(data, magic, 14))
		return -1;
	if (!(data[15] & 2))
		return 0;
	if (read_uvarint(data, len, &pos, &n) || n > len - pos)
		return -1;
	snprintf(version, vlen, "%.*s", (int)n, (const char *)data + pos);
	return 0;
}

/* ---- DWARF: just enough of version 4 to find a member of runtime.g ---- */

enum {
	DW_TAG_member = 0x0d,
	DW_TAG_structure_type = 0x13,
	DW_AT_name = 0x03,
	DW_AT_data_member_location = 0x38,
};

#define MAX_ABBREVS 512
#define MAX_ATTRS 32

struct abbrev {
	uint64_t tag;
	bool children, used;
	int n;
	uint16_t attr[MAX_ATTRS], form[MAX_ATTRS];
};

struct cursor {
	const uint8_t *p;
	size_t len, pos;
	bool bad;
};

static uint64_t cur_uleb(struct cursor *c)
{
	uint64_t v;

	if (read_uvarint(c->p, c->len, &c->pos, &v)) {
		c->bad = true;
		return 0;
	}
	return v;
}

static int64_t cur_sleb(struct cursor *c)
{
	uint64_t v = 0;
	int shift = 0;
	uint8_t b;

	do {
		if (c->pos >= c->len || shift >= 64) {
			c->bad = true;
			return 0;
		}
		b = c->p[c->pos++];
		v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	if (shift < 64 && (b & 0x40))
		v |= ~(uint64_t)0 << shift; /* sign-extend */
	return (int64_t)v;
}

static uint64_t cur_fixed(struct cursor *c, int size)
{
	uint64_t v = 0;

	if (c->len - c->pos < (size_t)size || c->pos > c->len) {
		c->bad = true;
		return 0;
	}
	for (int i = 0; i < size; i++)
		v |= (uint64_t)c->p[c->pos + i] << (8 * i); /* little endian (x86-64) */
	c->pos += (size_t)size;
	return v;
}

static void cur_skip(struct cursor *c, uint64_t n)
{
	if (n > c->len - c->pos)
		c->bad = true;
	else
		c->pos += n;
}

/* Parses the abbreviation table at off; codes index the array. */
static int parse_abbrevs(const uint8_t *p, size_t len, size_t off, struct abbrev *tab)
{
	struct cursor c = {p, len, off, false};

	memset(tab, 0, sizeof(*tab) * MAX_ABBREVS);
	for (;;) {
		uint64_t code = cur_uleb(&c);
		struct abbrev *a;

		if (c.bad)
			return -1;
		if (!code)
			return 0;
		if (code >= MAX_ABBREVS)
			return -1;
		a = &tab[code];
		a->used = true;
		a->tag = cur_uleb(&c);
		a->children = cur_fixed(&c, 1) != 0;
		for (;;) {
			uint64_t at = cur_uleb(&c), form = cur_uleb(&c);

			if (c.bad)
				return -1;
			if (!at && !form)
				break;
			if (a->n == MAX_ATTRS)
				return -1;
			a->attr[a->n] = (uint16_t)at;
			a->form[a->n++] = (uint16_t)form;
		}
	}
}

/*
 * Reads one attribute value of the given form. Integer forms land in *val,
 * inline strings in *str; everything else is skipped. Returns -1 on a form
 * this reader does not know (the caller then gives up: no guessing).
 */
static int read_form(struct cursor *c, uint64_t form, int addr_size, uint64_t *val,
		     const char **str)
{
	*val = 0;
	*str = NULL;
	switch (form) {
	case 0x01:
		*val = cur_fixed(c, addr_size);
		break; /* addr */
	case 0x03:
		cur_skip(c, cur_fixed(c, 2));
		break; /* block2 */
	case 0x04:
		cur_skip(c, cur_fixed(c, 4));
		break; /* block4 */
	case 0x05:
		*val = cur_fixed(c, 2);
		break; /* data2 */
	case 0x06:
		*val = cur_fixed(c, 4);
		break; /* data4 */
	case 0x07:
		*val = cur_fixed(c, 8);
		break; /* data8 */
	case 0x08: {   /* string */
		const uint8_t *nul = memchr(c->p + c->pos, 0, c->len - c->pos);

		if (!nul) {
			c->bad = true;
			break;
		}
		*str = (const char *)c->p + c->pos;
		c->pos = (size_t)(nul - c->p) + 1;
		break;
	}
	case 0x09:
		cur_skip(c, cur_uleb(c));
		break; /* block */
	case 0x0a:
		cur_skip(c, cur_fixed(c, 1));
		break; /* block1 */
	case 0x0b:
		*val = cur_fixed(c, 1);
		break; /* data1 */
	case 0x0c:
		*val = cur_fixed(c, 1);
		break; /* flag */
	case 0x0d:
		*val = (uint64_t)cur_sleb(c);
		break; /* sdata */
	case 0x0e:
		cur_fixed(c, 4);
		break; /* strp */
	case 0x0f:
		*val = cur_uleb(c);
		break; /* udata */
	case 0x10:
		cur_fixed(c, 4);
		break; /* ref_addr (32-bit DWARF) */
	case 0x11:
		cur_fixed(c, 1);
		break; /* ref1 */
	case 0x12:
		cur_fixed(c, 2);
		break; /* ref2 */
	case 0x13:
		cur_fixed(c, 4);
		break; /* ref4 */
	case 0x14:
		cur_fixed(c, 8);
		break; /* ref8 */
	case 0x15:
		cur_uleb(c);
		break; /* ref_udata */
	case 0x17:
		cur_fixed(c, 4);
		break; /* sec_offset */
	case 0x18:
		cur_skip(c, cur_uleb(c));
		break; /* exprloc */
	case 0x19:
		*val = 1;
		break; /* flag_present */
	case 0x20:
		cur_fixed(c, 8);
		break; /* ref_sig8 */
	default:
		return -1;
	}
	return c->bad ? -1 : 0;
}

/*
 * Walks every unit's entries; inside the structure named type, the member
 * gives its DW_AT_data_member_location (a constant in Go's DWARF). Returns
 * the offset, or -1.
 */
int krt_go_dwarf_member_offset(const uint8_t *info, size_t info_len, const uint8_t *abbrev,
			       size_t abbrev_len, const char *type, const char *member)
{
	struct abbrev *tab = malloc(sizeof(*tab) * MAX_ABBREVS);
	size_t unit = 0;
	int result = -1;

	if (!tab)
		return -1;
	while (result < 0 && info_len - unit >= 11 && unit < info_len) {
		struct cursor c = {info, info_len, unit, false};
		uint64_t unit_len = cur_fixed(&c, 4), abbrev_off;
		size_t end;
		int version, addr_size, depth = 0, g_depth = -1;

		if (unit_len >= 0xfffffff0 || unit_len > info_len - c.pos)
			break; /* 64-bit DWARF or truncated: not Go's */
		end = c.pos + unit_len;
		version = (int)cur_fixed(&c, 2);
		abbrev_off = cur_fixed(&c, 4);
		addr_size = (int)cur_fixed(&c, 1);
		if (version < 2 || version > 4 || abbrev_off >= abbrev_len ||
		    (addr_size != 4 && addr_size != 8) ||
		    parse_abbrevs(abbrev, abbrev_len, abbrev_off, tab))
			break;
		c.len = end;
		while (c.pos < end && !c.bad) {
			uint64_t code = cur_uleb(&c), loc = 0;
			const char *name = NULL;
			bool has_loc = false;
			struct abbrev *a;

			if (!code) {
				if (--depth < g_depth)
					g_depth = -1;
				if (depth < 0)
					break;
				continue;
			}
			if (code >= MAX_ABBREVS || !tab[code].used)
				goto out;
			a = &tab[code];
			for (int i = 0; i < a->n; i++) {
				uint64_t v;
				const char *s;

				if (read_form(&c, a->form[i], addr_size, &v, &s))
					goto out;
				if (a->attr[i] == DW_AT_name)
					name = s;
				else if (a->attr[i] == DW_AT_data_member_location) {
					loc = v;
					has_loc = a->form[i] != 0x18 && a->form[i] != 0x09;
				}
			}
			if (a->tag == DW_TAG_structure_type && name && !strcmp(name, type) &&
			    a->children)
				g_depth = depth + 1;
			else if (g_depth >= 0 && depth == g_depth && a->tag == DW_TAG_member &&
				 name && !strcmp(name, member) && has_loc && loc < 4096) {
				result = (int)loc;
				break;
			}
			if (a->children)
				depth++;
		}
		unit = end;
	}
out:
	free(tab);
	return result;
}

/* ---- ELF ---- */

static Elf_Scn *find_section(Elf *elf, size_t shstrndx, const char *want, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, sh))
			continue;
		name = elf_strptr(elf, shstrndx, sh->sh_name);
		if (name && !strcmp(name, want))
			return scn;
	}
	return NULL;
}

/* A section's bytes, decompressed when the linker compressed it (Go does DWARF). */
static Elf_Data *section_data(Elf_Scn *scn, const GElf_Shdr *sh)
{
	if ((sh->sh_flags & SHF_COMPRESSED) && elf_compress(scn, 0, 0) < 0)
		return NULL;
	return elf_getdata(scn, NULL);
}

/* Symbol value -> file offset, through the section holding it. */
static uint64_t vaddr_to_offset(Elf *elf, uint64_t vaddr, bool *ok)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS ||
		    !(sh.sh_flags & SHF_ALLOC))
			continue;
		if (vaddr >= sh.sh_addr && vaddr < sh.sh_addr + sh.sh_size) {
			*ok = true;
			return vaddr - sh.sh_addr + sh.sh_offset;
		}
	}
	*ok = false;
	return 0;
}

static void find_funcs(Elf *elf, Elf_Scn *symtab, const GElf_Shdr *sh, struct krt_go_info *info)
{
	Elf_Data *d = elf_getdata(symtab, NULL);
	size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;

	for (size_t i = 0; d && i < n; i++) {
		GElf_Sym sym;
		const char *name;

		if (!gelf_getsym(d, (int)i, &sym))
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name || strncmp(name, "runtime.", 8))
			continue;
		if (GELF_ST_TYPE(sym.st_info) == STT_OBJECT && !strcmp(name, KRT_GO_PROC_KEY_SYM)) {
			info->proc_key_vaddr = sym.st_value;
			continue;
		}
		if (GELF_ST_TYPE(sym.st_info) == STT_TLS && !strcmp(name, "runtime.tlsg")) {
			info->tlsg_value = sym.st_value;
			info->tlsg_found = true;
			continue;
		}
		if (GELF_ST_TYPE(sym.st_info) != STT_FUNC)
			continue;
		for (int f = 0; f < KRT_GO_N_FUNCS; f++) {
			struct krt_go_func_addr *fa = &info->funcs[f];

			if (fa->found || strcmp(name, func_names[f]))
				continue;
			fa->vaddr = sym.st_value;
			fa->file_offset = vaddr_to_offset(elf, sym.st_value, &fa->found);
		}
	}
}

static bool hchan_from_dwarf(const uint8_t *info, size_t len, const uint8_t *abbrev, size_t alen,
			     struct krt_go_hchan *h)
{
#define M(f) (h->f = krt_go_dwarf_member_offset(info, len, abbrev, alen, "runtime.hchan", #f))
	M(qcount), M(dataqsiz), M(sendx), M(recvx), M(recvq), M(sendq);
#undef M
	return h->qcount >= 0 && h->dataqsiz >= 0 && h->sendx >= 0 && h->recvx >= 0 &&
	       h->recvq >= 0 && h->sendq >= 0;
}

/*
 * Where a thread's runtime.g pointer is, from its FS base (x86-64, TLS
 * variant II: the executable's TLS block ends at the thread pointer). Go's
 * own linker writes no TLS segment and keeps g at -8; a binary linked by
 * the system linker (cgo) has one, and runtime.tlsg's value is g's place
 * in it.
 */
static void find_tls_g(Elf *elf, struct krt_go_info *info)
{
	size_t n = 0;
	GElf_Phdr ph;

	if (elf_getphdrnum(elf, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		uint64_t align, end;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_TLS)
			continue;
		if (!info->tlsg_found)
			return; /* a TLS segment without runtime.tlsg: unknown */
		align = ph.p_align ? ph.p_align : 1;
		end = (ph.p_memsz + align - 1) / align * align;
		info->tls_g_offset = (int)((int64_t)info->tlsg_value - (int64_t)end);
		info->tls_g_known = true;
		return;
	}
	info->tls_g_offset = -8;
	info->tls_g_known = true;
}

static void decide_usable(struct krt_go_info *info, uint16_t machine)
{
	info->usable = false;
	if (!info->version[0] || !info->major) {
		snprintf(info->why, sizeof(info->why),
			 "Go version unknown (build info before Go 1.18)");
		return;
	}
	info->g_in_r14 = machine == EM_X86_64 && (info->major > 1 || info->minor >= 17);
	if (!info->g_in_r14) {
		snprintf(info->why, sizeof(info->why),
			 "%s on this architecture keeps the running goroutine where uprobes "
			 "cannot read it (needs x86-64 and Go 1.17+)",
			 info->version);
		return;
	}
	if (!info->has_symtab) {
		snprintf(info->why, sizeof(info->why),
			 "no symbol table (stripped, -ldflags=-s): runtime functions not found");
		return;
	}
	for (int f = 0; f < KRT_GO_N_NEEDED; f++) {
		if (!info->funcs[f].found) {
			snprintf(info->why, sizeof(info->why), "%s not in the symbol table",
				 func_names[f]);
			return;
		}
	}
	if (info->goid_offset < 0 || info->sched_offset < 0) {
		snprintf(info->why, sizeof(info->why),
			 "no DWARF and %s is not in the table of checked versions: runtime.g "
			 "layout unknown",
			 info->version);
		return;
	}
	info->usable = true;
}

static int inspect_elf(Elf *elf, const char *path, struct krt_go_info *info, char *err,
		       size_t errlen)
{
	GElf_Ehdr eh;
	GElf_Shdr sh, ash;
	size_t shstrndx;
	Elf_Scn *scn, *ascn;
	Elf_Data *d, *ad;

	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh)) {
		snprintf(err, errlen, "%s: not an ELF file", path);
		return -1;
	}
	if (elf_getshdrstrndx(elf, &shstrndx)) {
		snprintf(err, errlen, "%s: no section name table: %s", path, elf_errmsg(-1));
		return -1;
	}
	scn = find_section(elf, shstrndx, ".go.buildinfo", &sh);
	if (!scn)
		return 0; /* not Go (or Go before 1.13): nothing to follow */
	d = elf_getdata(scn, NULL);
	if (!d || !d->d_buf ||
	    krt_go_parse_buildinfo(d->d_buf, d->d_size, info->version, sizeof(info->version))) {
		snprintf(err, errlen, "%s: unreadable .go.buildinfo section", path);
		return -1;
	}
	info->is_go = true;
	if (info->version[0] && krt_go_parse_version(info->version, &info->major, &info->minor))
		info->major = info->minor = 0;
	scn = find_section(elf, shstrndx, ".symtab", &sh);
	info->has_symtab = scn != NULL;
	if (scn)
		find_funcs(elf, scn, &sh, info);
	scn = find_section(elf, shstrndx, ".debug_info", &sh);
	ascn = find_section(elf, shstrndx, ".debug_abbrev", &ash);
	info->has_dwarf = scn && ascn;
	if (info->has_dwarf && (d = section_data(scn, &sh)) && (ad = section_data(ascn, &ash)) &&
	    d->d_buf && ad->d_buf) {
		info->goid_offset = krt_go_dwarf_member_offset(d->d_buf, d->d_size, ad->d_buf,
							       ad->d_size, "runtime.g", "goid");
		info->sched_offset = krt_go_dwarf_member_offset(d->d_buf, d->d_size, ad->d_buf,
								ad->d_size, "runtime.g", "sched");
		if (info->goid_offset >= 0 && info->sched_offset >= 0)
			info->goid_from = KRT_GO_OFFSET_DWARF;
		info->chans =
		    hchan_from_dwarf(d->d_buf, d->d_size, ad->d_buf, ad->d_size, &info->hchan);
		info->gobuf_g_offset = krt_go_dwarf_member_offset(d->d_buf, d->d_size, ad->d_buf,
								  ad->d_size, "runtime.gobuf", "g");
		info->g_m_offset = krt_go_dwarf_member_offset(d->d_buf, d->d_size, ad->d_buf,
							      ad->d_size, "runtime.g", "m");
		info->m_curg_offset = krt_go_dwarf_member_offset(d->d_buf, d->d_size, ad->d_buf,
								 ad->d_size, "runtime.m", "curg");
	}
	if (info->gobuf_g_offset < 0 && info->goid_from != KRT_GO_OFFSET_DWARF &&
	    !krt_go_offsets_table(info->major, info->minor, &(int){0}, &(int){0}))
		info->gobuf_g_offset = KRT_GO_GOBUF_G_TABLE;
	if (info->goid_from != KRT_GO_OFFSET_DWARF) {
		info->goid_offset = info->sched_offset = -1;
		if (!krt_go_offsets_table(info->major, info->minor, &info->goid_offset,
					  &info->sched_offset))
			info->goid_from = KRT_GO_OFFSET_TABLE;
		info->chans = !krt_go_hchan_table(info->major, info->minor, &info->hchan);
		info->g_m_offset = info->m_curg_offset = -1;
		krt_go_curg_table(info->major, info->minor, &info->g_m_offset,
				  &info->m_curg_offset);
	}
	for (int f = KRT_GO_N_NEEDED; f < KRT_GO_N_PROBED; f++)
		info->chans = info->chans && info->funcs[f].found;
	info->handoff_skips = krt_go_handoff_skips(info->major, info->minor);
	find_tls_g(elf, info);
	info->tls_g_known = info->tls_g_known && eh.e_machine == EM_X86_64 &&
			    info->g_m_offset > 0 && info->m_curg_offset > 0;
	decide_usable(info, eh.e_machine);
	return 0;
}

int krt_go_inspect(const char *path, struct krt_go_info *info, char *err, size_t errlen)
{
	Elf *elf;
	int fd, rc;

	memset(info, 0, sizeof(*info));
	info->goid_offset = info->sched_offset = info->gobuf_g_offset = -1;
	info->g_m_offset = info->m_curg_offset = -1;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		snprintf(err, errlen, "libelf: %s", elf_errmsg(-1));
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* a private copy: decompressing DWARF writes into the section buffers */
	elf = elf_begin(fd, ELF_C_READ_MMAP_PRIVATE, NULL);
	if (!elf) {
		snprintf(err, errlen, "%s: %s", path, elf_errmsg(-1));
		close(fd);
		return -1;
	}
	rc = inspect_elf(elf, path, info, err, errlen);
	elf_end(elf);
	close(fd);
	return rc;
}

int krt_go_inspect_pid(const char *proc_root, int pid, struct krt_go_info *info, char *err,
		       size_t errlen)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%d/exe", proc_root ? proc_root : "/proc", pid);
	return krt_go_inspect(path, info, err, errlen);
}

/*
 * What the live path's three uprobes read (bpf/goroutines.bpf.h), as tracefs
 * fetch arguments: execute's gp (RAX) and its goid, the new goroutine's g
 * that newproc1 stored in gp.sched.g before calling gostartcallfn(&gp.sched),
 * ready's gp and traceskip (RBX). Every event also reads the process key.
 */
int krt_go_uprobe_lines(const char *path, const struct krt_go_info *info, FILE *out, char *why,
			size_t whylen)
{
	const struct krt_go_func_addr *ex = &info->funcs[KRT_GO_EXECUTE];
	const struct krt_go_func_addr *st = &info->funcs[KRT_GO_GOSTARTCALLFN];
	const struct krt_go_func_addr *rd = &info->funcs[KRT_GO_READY];
	uint64_t key;

	if (!info->is_go) {
		snprintf(why, whylen, "not a Go binary");
		return -1;
	}
	if (!info->usable) {
		snprintf(why, whylen, "%s", info->why);
		return -1;
	}
	if (info->gobuf_g_offset < 0 || !info->proc_key_vaddr) {
		snprintf(why, whylen, "%s not found: goroutines of processes not told apart",
			 info->gobuf_g_offset < 0 ? "runtime.gobuf's g" : KRT_GO_PROC_KEY_SYM);
		return -1;
	}
	if (strpbrk(path, " \t\n:")) {
		snprintf(why, whylen, "path %s has a character uprobe_events cannot take", path);
		return -1;
	}
	/* @+OFFSET is relative to where the probed file's offset 0 is mapped */
	key = info->proc_key_vaddr - (ex->vaddr - ex->file_offset);
	fprintf(out, "probe go_execute %s:0x%llx g=%%ax:x64 goid=+%d(%%ax):s64 proc=@+0x%llx:s64\n",
		path, (unsigned long long)ex->file_offset, info->goid_offset,
		(unsigned long long)key);
	fprintf(out, "probe go_start %s:0x%llx g=+%d(%%ax):x64 proc=@+0x%llx:s64\n", path,
		(unsigned long long)st->file_offset, info->gobuf_g_offset, (unsigned long long)key);
	fprintf(out, "probe go_ready %s:0x%llx g=%%ax:x64 skip=%%bx:s64 proc=@+0x%llx:s64\n", path,
		(unsigned long long)rd->file_offset, (unsigned long long)key);
	/* as the live probe: only a channel's wake-up hands work over */
	if (info->handoff_skips) {
		const char *sep = "";

		fprintf(out, "filter go_ready ");
		for (int i = 0; i < 32; i++)
			if (info->handoff_skips & (1u << i)) {
				fprintf(out, "%sskip == %d", sep, i);
				sep = " || ";
			}
		fputc('\n', out);
	}
	return 0;
}
