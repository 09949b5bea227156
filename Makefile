# KRTrace build. All output goes to .output/; `make V=1` shows full commands.
OUTPUT := .output
BIN := $(OUTPUT)/bin
CLANG ?= clang
CC ?= gcc
BPFTOOL ?= bpftool
LLVM_STRIP ?= llvm-strip
CLANG_FORMAT ?= clang-format
PREFIX ?= /usr/local
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
VERSION := 0.1.0

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
# CFLAGS is the user's knob (make CFLAGS=...); ALL_CFLAGS adds what the build needs.
CFLAGS ?= -O2 -g
ALL_CFLAGS = $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -DKRT_VERSION='"$(VERSION)"' \
	  -Iinclude -Isrc -I$(OUTPUT)
# trace.dat import (src/tracedat_source.c): libtracecmd, libtraceevent (and libtracefs, which
# trace-cmd.h includes)
TRACECMD_CFLAGS := $(shell pkg-config --cflags libtracecmd libtraceevent 2>/dev/null || \
	echo -I/usr/include/trace-cmd -I/usr/include/tracefs -I/usr/include/traceevent)
TRACECMD_LIBS := $(shell pkg-config --libs libtracecmd libtraceevent 2>/dev/null || \
	echo -ltracecmd -ltracefs -ltraceevent)
LDLIBS := -lbpf -lelf -lz -lm -lpthread -ljson-c $(TRACECMD_LIBS)
BPF_CFLAGS := -g -O2 -mcpu=v3 -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude -Ivmlinux -I$(OUTPUT) \
	      -Wall -Werror -Wno-unused-function

# `make HOOK_PROFILE=1 OUTPUT=.output/hook-profile`: the programs time their
# path's segments (include/krtrace_bpf.h, enum krt_prof_slot; bench/hook_profile.sh).
ifeq ($(HOOK_PROFILE),1)
BPF_CFLAGS += -DKRT_HOOK_PROFILE
ALL_CFLAGS += -DKRT_HOOK_PROFILE
endif

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# Every src/*.c except the two programs' mains goes into one library.
MAINS := src/krtrace.c src/krtrace_bpf.c
LIB_SRCS := $(filter-out $(MAINS),$(wildcard src/*.c))
LIB_OBJS := $(patsubst src/%.c,$(OUTPUT)/%.o,$(LIB_SRCS))
LIB := $(OUTPUT)/libkrtrace.a
BPF_SRCS := $(wildcard bpf/*.bpf.c)
SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
KERNEL_SRCS := $(wildcard tests/kernel/test_*.c)
KERNEL_BINS := $(patsubst tests/kernel/%.c,$(OUTPUT)/tests/%,$(KERNEL_SRCS))
SERVICE_SRCS := $(wildcard tests/services/*.c)
SERVICE_BINS := $(patsubst tests/services/%.c,$(OUTPUT)/services/%,$(SERVICE_SRCS))
TOOL_SRCS := $(wildcard tests/tools/*.c bench/*.c)
TOOL_BINS := $(patsubst %.c,$(OUTPUT)/tools/%,$(notdir $(TOOL_SRCS)))
PROGS := $(BIN)/krtrace $(BIN)/krtrace-bpf
# Go test services (tests/services/go, standard library only), built when a Go
# toolchain is installed (Debian's golang-go); their suites skip otherwise.
GO ?= go
GO_FOUND := $(shell command -v $(GO) 2>/dev/null)
GO_SRCS := tests/services/go/go.mod $(wildcard tests/services/go/*/*.go)
GO_SERVICE_BINS := $(OUTPUT)/services/go-http $(OUTPUT)/services/go-fanout \
	$(OUTPUT)/services/go-http-stripped
GO_ENV = GOCACHE=$(abspath $(OUTPUT))/go-cache GOPATH=$(abspath $(OUTPUT))/go-path \
	HOME=$(abspath $(OUTPUT)) GOFLAGS= GOPROXY=off GO111MODULE=on CGO_ENABLED=0

.PHONY: all tests test check unit-test clean install demo vmlinux fuzz asan bench format \
	format-check
# The two programs. `make tests` adds the test programs, services and benchmarks
# (cmocka, Go, Java, Thrift); `make test` / `make check` build them and run every suite.
all: $(PROGS)
tests: all $(UNIT_BINS) $(KERNEL_BINS) $(SERVICE_BINS) $(TOOL_BINS)
ifneq ($(GO_FOUND),)
tests: $(GO_SERVICE_BINS)
endif

$(OUTPUT) $(BIN) $(OUTPUT)/tests $(OUTPUT)/services $(OUTPUT)/tools:
	$(Q)mkdir -p $@

# vmlinux.h is committed so the build needs no kernel headers; regenerate from BTF.
vmlinux:
	$(call msg,GEN,vmlinux/vmlinux.h)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/vmlinux.h

# The object the skeleton embeds keeps its BTF (CO-RE needs it) but not its DWARF
# (most of its size); the unstripped one stays beside it (llvm-objdump -S).
$(OUTPUT)/%.bpf.o: bpf/%.bpf.c include/*.h vmlinux/vmlinux.h $(wildcard bpf/*.h) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $(@:.bpf.o=.debug.bpf.o)
	$(Q)$(LLVM_STRIP) -g $(@:.bpf.o=.debug.bpf.o) -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o | $(OUTPUT)
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(OUTPUT)/%.o: src/%.c $(wildcard src/*.h include/*.h) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# Only what includes a skeleton waits for it (and is rebuilt when it changes).
SKEL_USERS := $(patsubst src/%.c,$(OUTPUT)/%.o,$(shell grep -l 'skel\.h"' src/*.c)) \
	$(foreach f,$(shell grep -l 'skel\.h"' tests/kernel/*.c bench/*.c),\
	$(OUTPUT)/$(if $(findstring tests/kernel,$(f)),tests,tools)/$(basename $(notdir $(f))))
$(SKEL_USERS): $(SKELS)

$(OUTPUT)/tracedat_source.o: ALL_CFLAGS += $(TRACECMD_CFLAGS)

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(BIN)/krtrace: $(OUTPUT)/krtrace.o $(LIB) | $(BIN)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/krtrace-bpf: $(OUTPUT)/krtrace_bpf.o $(LIB) | $(BIN)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/tests/%: tests/unit/%.c $(LIB) $(wildcard tests/unit/*.h) | $(OUTPUT)/tests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit $< $(LIB) $(LDLIBS) -lcmocka -o $@

$(OUTPUT)/tests/%: tests/kernel/%.c $(LIB) | $(OUTPUT)/tests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/kernel $< $(LIB) $(LDLIBS) -lcmocka -o $@

$(OUTPUT)/services/%: tests/services/%.c $(wildcard tests/services/*.h) | $(OUTPUT)/services
	$(call msg,SERVICE,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/services $< -lpthread -o $@

$(OUTPUT)/services/go-%: $(GO_SRCS) | $(OUTPUT)/services
	$(call msg,GO,$@)
	$(Q)cd tests/services/go && $(GO_ENV) $(GO) build -o $(abspath $@) ./go-$*

# The same program without its symbol table: what the tracer does with a Go binary
# it cannot inspect (attribution by thread, said so).
$(OUTPUT)/services/go-http-stripped: $(GO_SRCS) | $(OUTPUT)/services
	$(call msg,GO,$@)
	$(Q)cd tests/services/go && $(GO_ENV) $(GO) build -ldflags='-s -w' -o $(abspath $@) ./go-http

# The real runtimes of the test bed (utils/testbed groups java, thrift), built
# when their Debian packages are there (asgi and node run from source).
JAVAC ?= $(shell command -v javac 2>/dev/null)
THRIFT ?= $(shell command -v thrift 2>/dev/null)
CXX ?= g++
RUNTIME_BINS :=
ifneq ($(JAVAC),)
RUNTIME_BINS += $(OUTPUT)/services/java/KrtJava.class
endif
ifneq ($(and $(THRIFT),$(wildcard /usr/include/thrift/server/TNonblockingServer.h)),)
RUNTIME_BINS += $(OUTPUT)/services/thrift_store $(OUTPUT)/services/thrift_front
endif
tests: $(RUNTIME_BINS)

$(OUTPUT)/services/java/KrtJava.class: tests/services/runtimes/KrtJava.java | $(OUTPUT)/services
	$(call msg,JAVAC,$@)
	$(Q)$(JAVAC) -nowarn -d $(OUTPUT)/services/java $<

THRIFT_GEN := $(OUTPUT)/thrift-gen
THRIFT_GEN_SRCS := $(THRIFT_GEN)/Store.cpp
$(THRIFT_GEN_SRCS): tests/services/runtimes/krt_store.thrift | $(OUTPUT)
	$(call msg,THRIFT,$@)
	$(Q)mkdir -p $(THRIFT_GEN) && $(THRIFT) --gen cpp -out $(THRIFT_GEN) $<
THRIFT_CXXFLAGS := -O2 -g -std=c++20 -Wall -Werror -D_GNU_SOURCE -Itests/services -I$(THRIFT_GEN)
THRIFT_LIBS := -lthriftnb -lthrift -levent -lpthread
$(OUTPUT)/services/thrift_%: tests/services/runtimes/thrift_%.cpp $(THRIFT_GEN_SRCS) \
		tests/services/svc_common.h | $(OUTPUT)/services
	$(call msg,CXX,$@)
	$(Q)$(CXX) $(THRIFT_CXXFLAGS) $< $(THRIFT_GEN_SRCS) $(THRIFT_LIBS) -o $@

$(OUTPUT)/tools/%: tests/tools/%.c $(LIB) | $(OUTPUT)/tools
	$(call msg,TOOL,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $< $(LIB) $(LDLIBS) -ljson-c -o $@

$(OUTPUT)/tools/%: bench/%.c $(LIB) | $(OUTPUT)/tools
	$(call msg,BENCH,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $< $(LIB) $(LDLIBS) -o $@

# The test command README names: unit, kernel and integration suites,
# ending with one line "N passed, N failed".
test: tests
	$(Q)bash tests/run_all.sh

check: test

unit-test: tests
	$(Q)bash tests/run_all.sh unit

# Files kept in .clang-format's style (the rest of the tree is not yet).
FORMAT_FILES := $(wildcard bpf/*.bpf.h bpf/*.bpf.c include/*.h src/*.c src/*.h)

format-check:
	$(call msg,FORMAT,check)
	$(Q)$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES)

format:
	$(Q)$(CLANG_FORMAT) -i $(FORMAT_FILES)

# Sanitizer build of the unit tests (separate output dir).
asan:
	$(Q)$(MAKE) --no-print-directory OUTPUT=.output-asan CC=$(CLANG) \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		.output-asan/bin/krtrace $(patsubst $(OUTPUT)/%,.output-asan/%,$(UNIT_BINS))

# libFuzzer target for the report parser.
fuzz: $(OUTPUT)/fuzz_report_parser
$(OUTPUT)/fuzz_report_parser: tests/fuzz/fuzz_report_parser.c $(LIB_SRCS) | $(OUTPUT)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) -O1 -g -fsanitize=fuzzer,address,undefined $(filter-out -Werror,$(ALL_CFLAGS)) \
		$< $(filter src/report_parser.c src/ftrace_normalize.c src/addr.c,$(LIB_SRCS)) -o $@

bench: tests
	$(Q)bash bench/run_all.sh

demo:
	$(Q)bash utils/demo.sh

install: $(PROGS)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 utils/krtrace-capture utils/get-all-pids $(DESTDIR)$(PREFIX)/bin/

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT) .output-asan

# Keep the BPF object: the skeleton embeds it, and make would delete it as intermediate.
.SECONDARY: $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
.DELETE_ON_ERROR:
