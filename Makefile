# zpar - build, test and install.
#
#   make            build everything into build/
#   make demo       install what is missing, start a 4-engine cluster, say hello, stop
#   make test       install what is missing, build, run the Criterion suite
#   make check-asan the suite under AddressSanitizer + UBSan (build-asan/)
#   make bench      build the benchmarks and run zpar beside raw ZeroMQ, IPython
#                   Parallel and Dask (installs those when missing)
#   make fuzz       install clang if missing, fuzz the wire readers for
#                   FUZZ_TIME seconds (default 60), growing tests/fuzz/corpus
#   make install PREFIX=DIR

BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= gcc
SAN     ?=
V       ?=
Q       := $(if $(V),,@)

PKGS     := libczmq libzmq jansson libsodium
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# Only the hub (and the tests that drive it in-process) use SQLite.
SQLITE_CFLAGS := $(shell pkg-config --cflags sqlite3 2>/dev/null)
SQLITE_LIBS   := $(shell pkg-config --libs sqlite3 2>/dev/null)

# OPT is the optimisation; CFLAGS and LDFLAGS from the command line are
# added to what the build needs, never replace it.
OPT     ?= -O2 -g
# Link-time optimisation, with gcc: the hot path crosses modules (message,
# parts, signing, tables) in calls too small to pay for themselves; LTO
# inlines them. Fat objects, and `make install` strips their bytecode, so
# that the installed libzpar.a links with any compiler or gcc version.
CC_IS_GCC := $(shell $(CC) -v 2>&1 | grep -q '^gcc version' && echo yes)
LTO     ?= $(if $(CC_IS_GCC),-flto=auto -ffat-lto-objects)
ifeq ($(SAN),1)
LTO     :=
endif
ZCFLAGS := $(OPT) $(LTO) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC \
           -Ishared -Iinclude -Iclient -Icli -Iengine -Ihub -Itests/support $(PKG_CFLAGS) $(SQLITE_CFLAGS) $(CFLAGS)
ZLDFLAGS := $(LTO) $(LDFLAGS)
LDLIBS  := $(PKG_LIBS) -lpthread -ldl
ifeq ($(SAN),1)
ZCFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ZLDFLAGS += -fsanitize=address,undefined
endif

VERSION := 0.1.0
OBJ     := $(BUILD)/obj

shared_src  := $(wildcard shared/*.c)
client_src  := $(filter-out client/zpar_cli.c,$(wildcard client/*.c))
lib_obj     := $(patsubst %.c,$(OBJ)/%.o,$(shared_src) $(client_src))
hub_obj     := $(patsubst %.c,$(OBJ)/%.o,$(wildcard hub/*.c))
sched_obj   := $(patsubst %.c,$(OBJ)/%.o,$(wildcard scheduler/*.c))
engine_obj  := $(patsubst %.c,$(OBJ)/%.o,$(wildcard engine/*.c))
launch_obj  := $(patsubst %.c,$(OBJ)/%.o,$(wildcard ipcluster/*.c))
cli_obj     := $(OBJ)/client/zpar_cli.o $(patsubst %.c,$(OBJ)/%.o,$(wildcard cli/*.c))
test_src    := $(wildcard tests/unit/*.c tests/integration/*.c tests/support/*.c)
test_obj    := $(patsubst %.c,$(OBJ)/%.o,$(test_src))
# Daemon sources the unit tests drive in-process (all but their mains).
engine_lib_obj := $(filter-out $(OBJ)/engine/main.o,$(engine_obj))
hub_lib_obj    := $(filter-out $(OBJ)/hub/main.o,$(hub_obj))

LIBA    := $(BUILD)/lib/libzpar.a
LIBSO   := $(BUILD)/lib/libzpar.so
BINS    := $(addprefix $(BUILD)/bin/,zpar-hub zpar-scheduler zpar-engine ipcluster zpar)
EXAMPLES := $(addprefix $(BUILD)/examples/,hello map_async work_queue pool_scaling) \
            $(BUILD)/examples/libzpar_example_plugin.so
BENCHES := $(BUILD)/bench/latency $(BUILD)/bench/throughput $(BUILD)/bench/soak $(BUILD)/bench/buffers $(BUILD)/bench/scale
TESTS   := $(BUILD)/tests/zpar-tests
FUZZERS := $(BUILD)/tests/fuzz_wire
TEST_PLUGIN := $(BUILD)/tests/libzpar_test_plugin.so
FUZZ_TIME ?= 60

.PHONY: all deps demo test test-run check check-asan bench fuzz install clean
# Objects of examples and benchmarks are kept, not removed as intermediates.
.SECONDARY:
all: $(BINS) $(LIBA) $(LIBSO) $(BUILD)/lib/pkgconfig/zpar.pc $(EXAMPLES) $(BENCHES) $(TESTS) $(FUZZERS) $(TEST_PLUGIN)

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ZCFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

$(LIBA): $(lib_obj)
	@mkdir -p $(dir $@)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBSO): $(lib_obj)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ZLDFLAGS) -shared -Wl,-soname,libzpar.so.0 -o $@ $^ $(LDLIBS)

$(BUILD)/lib/pkgconfig/zpar.pc: tools/zpar.pc.in Makefile
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@PREFIX@|$(abspath $(PREFIX))|' -e 's|@VERSION@|$(VERSION)|' $< > $@

$(BUILD)/bin/zpar-hub: $(hub_obj) $(LIBA)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ZLDFLAGS) -o $@ $^ $(LDLIBS) $(SQLITE_LIBS)

$(BUILD)/bin/zpar-scheduler: $(sched_obj) $(LIBA)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ZLDFLAGS) -o $@ $^ $(LDLIBS)

# -rdynamic: plugins loaded with --load call the engine's zpar_* functions.
$(BUILD)/bin/zpar-engine: $(engine_obj) $(LIBA)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ZLDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

$(BUILD)/bin/ipcluster: $(launch_obj) $(LIBA)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ZLDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/zpar: $(cli_obj) $(LIBA)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ZLDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/examples/%: $(OBJ)/examples/%.o $(LIBA)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ZLDFLAGS) -o $@ $^ $(LDLIBS)

# A plugin leaves the zpar_* symbols undefined: zpar-engine provides them.
$(BUILD)/examples/libzpar_example_plugin.so: examples/plugin/example_plugin.c include/zpar/plugin.h
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ZCFLAGS) $(ZLDFLAGS) -shared -o $@ $<

$(BUILD)/bench/%: $(OBJ)/bench/%.o $(OBJ)/bench/bench.o $(LIBA)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ZLDFLAGS) -o $@ $^ $(LDLIBS)

# Functions that kill their engine, for the tests of engine deaths.
$(TEST_PLUGIN): tests/plugin/zpar_test_plugin.c include/zpar/plugin.h
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ZCFLAGS) $(ZLDFLAGS) -shared -o $@ $<

# The fuzz targets built with gcc: they replay a corpus (see tests/fuzz/).
$(BUILD)/tests/fuzz_%: $(OBJ)/tests/fuzz/fuzz_%.o $(LIBA)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ZLDFLAGS) -o $@ $^ $(LDLIBS)

# The same sources with clang and libFuzzer, under ASan and UBSan.
fuzz:
	@tools/deps.sh fuzz
	@mkdir -p $(BUILD)/fuzz
	clang -g -O1 -std=c11 -D_GNU_SOURCE -DZPAR_FUZZ_ENGINE -fsanitize=fuzzer,address,undefined \
	  -Ishared -Iinclude $(PKG_CFLAGS) -o $(BUILD)/fuzz/fuzz_wire tests/fuzz/fuzz_wire.c \
	  $(shared_src) $(PKG_LIBS) -lpthread
	$(BUILD)/fuzz/fuzz_wire -max_total_time=$(FUZZ_TIME) -max_len=4096 -timeout=10 tests/fuzz/corpus

$(TESTS): $(test_obj) $(engine_lib_obj) $(hub_lib_obj) $(LIBA)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ZLDFLAGS) -rdynamic -o $@ $^ $(LDLIBS) $(SQLITE_LIBS) -lcriterion

deps:
	@tools/deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@tools/demo.sh $(BUILD)

# The suite: unit tests, then the real executables on 127.0.0.1.
test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory test-run

test-run:
	ZPAR_BUILD=$(abspath $(BUILD)) ZPAR_SOURCE=$(CURDIR) $(TESTS) --jobs 2 $(TEST_ARGS)

check: test

check-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 OPT="-O1 -g" all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tools/lsan.supp \
	  $(MAKE) --no-print-directory BUILD=build-asan test-run

# The benchmarks, then zpar beside raw ZeroMQ, IPython Parallel and Dask
# (installed from Debian when missing) in one run: docs/performance.md.
bench:
	@tools/deps.sh bench
	@$(MAKE) --no-print-directory all
	/usr/bin/python3 bench/compare.py $(BUILD)

install: $(BINS) $(LIBA) $(LIBSO)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/zpar
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	objcopy -R '.gnu.lto_*' -R '.gnu.debuglto_*' -N __gnu_lto_v1 $(DESTDIR)$(PREFIX)/lib/libzpar.a
	install -m 755 $(LIBSO) $(DESTDIR)$(PREFIX)/lib/libzpar.so.0
	ln -sf libzpar.so.0 $(DESTDIR)$(PREFIX)/lib/libzpar.so
	sed -e 's|@PREFIX@|$(abspath $(PREFIX))|' -e 's|@VERSION@|$(VERSION)|' tools/zpar.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/zpar.pc
	install -m 644 include/zpar/zpar.h include/zpar/plugin.h $(DESTDIR)$(PREFIX)/include/zpar/

clean:
	rm -rf build build-asan
