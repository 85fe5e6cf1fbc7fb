# t2v: C99 reference implementation of Wan2.1 text-to-video.
#
#   make                 build ref/t2v (OpenBLAS + OpenMP)
#   make BLAS=none       build with the built-in blocked GEMM instead of OpenBLAS
#   make MPI=1           build ref/t2v for mpirun (OpenMPI): ranks split the guidance
#   make test            build and run the whole test suite (goldens are committed)
#   make asan            the same suite under AddressSanitizer + UBSan
#   make run             generate the README example with the embedded demo model
#                        (PROMPT='...' any text: passed to the program verbatim)
#   make run-fast        the same with the demo's 4-step student (a LoRA): 4 DiT passes, not 40
#   make install         PREFIX/bin/t2v and the demo model in PREFIX/share/t2v/models/demo,
#                        where t2v finds it from any directory (PREFIX=/usr/local, DESTDIR)
#   make demo-adapters   retrain models/demo/lora (the 4-step student, the lime LoRA; about 1 hour)
#   make golden          regenerate golden/ with the PyTorch reference (python3-torch)
#   make fuzz            libFuzzer targets for every parser (clang), FUZZ_SECONDS (or FUZZ_RUNS) each
#   make bench           speed and memory against PyTorch (see bench/); QUICK=1 the
#                        small cases, SDCPP=path/to/sd-cli adds stable-diffusion.cpp
#   make bench-long      long clips in context windows (demo 81..961 frames, synthetic 1.3B
#                        at 256x256, 17..161 frames): DiT and VAE time per frame, peak RSS
#   make bench-causal    causal generation on the demo: peak RSS with and without the rolling cache
#   make cross-test      the golden suite on x86-64 gcc/clang/portable kernels, aarch64, s390x (qemu)
#                        and Windows x86-64 (mingw-w64 + wine); tests/cross/run.sh

CC      ?= gcc
BLAS    ?= openblas
PYTHON  ?= /usr/bin/python3
SAN     ?=
OPT     ?= -O2

WARN    = -std=c99 -Wall -Wextra -Wpedantic -Werror
# -ffp-contract=off: no FMA contraction (same bits as every other build).
# -fno-trapping-math: t2v never enables FP traps, so gcc may turn the clamps
# of ops.c's exp into branch-free selects and vectorise the loop; it changes
# no value (clang's default; -ffast-math, which would, is never used).
CFLAGS  = $(WARN) $(OPT) -g -ffp-contract=off -fno-trapping-math -fno-math-errno -fopenmp -D_POSIX_C_SOURCE=200809L \
          -D_DEFAULT_SOURCE -isystem /usr/include/stb -Iref/lib -Iref/app
LDLIBS  = -lm
LDFLAGS = -fopenmp
# Cross builds (tests/cross/run.sh): EXE is the executable suffix (.exe for
# mingw-w64); XCFLAGS / XLDFLAGS / XLDLIBS are added for one platform.
EXE     ?=
CFLAGS  += $(XCFLAGS)
LDFLAGS += $(XLDFLAGS)
LDLIBS  += $(XLDLIBS)

# C2PA=1 (default): Content Credentials (signed C2PA manifests in every
# output, `t2v info` checks them) through OpenSSL's libcrypto (libssl-dev).
# C2PA=0 builds without: outputs carry only the unsigned provenance (the
# cross builds, whose sysroots have no libcrypto; docs/OUTPUTS.md).
C2PA    ?= 1
ifeq ($(C2PA),1)
  CFLAGS += -DT2V_C2PA
  LDLIBS += -lcrypto
else ifneq ($(C2PA),0)
  $(error C2PA must be 1 or 0, not '$(C2PA)')
endif

# MPI=1: ref/t2v for mpirun (OpenMPI's mpicc; docs/SCALING.md). The default
# build has no MPI.
ifeq ($(MPI),1)
  CC      = mpicc
  CFLAGS += -DT2V_MPI
endif

ifeq ($(BLAS),openblas)
  CFLAGS += -DT2V_OPENBLAS
  LDLIBS += -lopenblas
else ifneq ($(BLAS),none)
  $(error BLAS must be openblas or none, not '$(BLAS)')
endif

ifeq ($(SAN),1)
  CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=address,undefined
  BUILD   = build/asan-$(BLAS)
else
  BUILD   = build/$(CC)-$(BLAS)
endif
# O=DIR puts objects elsewhere.
ifneq ($(O),)
  BUILD = $(O)
endif

# ref/lib is the library (formats, stages, pipeline), ref/app the command line
# on top of it (commands, info, trace, video writers). Tests link the library
# and the app's parts that are not commands (APP_PARTS: cost, video). MODULES="tensor platform json ..." builds only those ref/lib files.
ifneq ($(MODULES),)
  LIB_SRC = $(patsubst %,ref/lib/%.c,$(MODULES))
else
  LIB_SRC = $(wildcard ref/lib/*.c)
endif
LIB_OBJ   = $(patsubst ref/%.c,$(BUILD)/ref/%.o,$(LIB_SRC))
APP_OBJ   = $(patsubst ref/%.c,$(BUILD)/ref/%.o,$(filter-out ref/app/main.c,$(wildcard ref/app/*.c)))
APP_PARTS = $(patsubst ref/%.c,$(BUILD)/ref/%.o,$(filter-out ref/app/main.c ref/app/cli.c ref/app/cmd_%.c \
              ref/app/trace.c,$(wildcard ref/app/*.c)))
TEST_SRC  = $(wildcard tests/test_*.c)
TEST_BIN  = $(patsubst tests/%.c,$(BUILD)/tests/%$(EXE),$(TEST_SRC))
HEADERS   = $(wildcard ref/lib/*.h ref/app/*.h) tests/harness.h tests/prng_weights.h tests/demo_check.h

.PHONY: all test asan run run-fast install golden fuzz bench bench-mpi bench-long bench-causal clean demo-model demo-adapters cross-test
all: $(BUILD)/t2v
ifeq ($(SAN),)
	@cp $(BUILD)/t2v ref/t2v
endif

$(BUILD)/ref/%.o: ref/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/t2v: $(BUILD)/ref/app/main.o $(APP_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%$(EXE): tests/%.c $(APP_PARTS) $(LIB_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(APP_PARTS) $(LIB_OBJ) -o $@ $(LDFLAGS) $(LDLIBS)

# With OpenMPI's mpicc installed, `make test` also builds t2v with MPI=1;
# tests/test_mpi.c runs it under mpirun (skipped otherwise).
ifneq ($(shell command -v mpicc 2>/dev/null),)
ifeq ($(SAN)$(EXE)$(O),)
  MPI_TEST_BIN = build/mpicc-$(BLAS)/t2v
endif
endif

test: $(BUILD)/t2v $(TEST_BIN) $(MPI_TEST_BIN)
	@T2V_MPI_BIN=$(MPI_TEST_BIN) bash tests/run.sh $(BUILD)

ifneq ($(MPI_TEST_BIN),)
ifneq ($(MPI),1)
.PHONY: $(MPI_TEST_BIN)
$(MPI_TEST_BIN):
	@$(MAKE) --no-print-directory MPI=1 BLAS=$(BLAS) $@
endif
endif

asan:
	$(MAKE) SAN=1 test

# The prompt reaches the script byte for byte: $(value PROMPT) is not
# expanded by make (so '$HOME' stays '$HOME'), and inside single quotes,
# each ' written as '\'', the shell expands nothing.
run: all
	@bash tools/run_demo.sh '$(subst ','\'',$(value PROMPT))'

# The 4-step student (models/demo/README.md "Few steps and a LoRA"): its
# LoRA on the teacher, the distill sampler at the schedule it was trained
# for (the file's metadata records it), guidance baked in (cfg 1).
STUDENT_ARGS = --lora models/demo/lora/student4.safetensors --sampler distill --timesteps 1000,750,500,250 \
               --shift 1 --cfg 1
run-fast: all
	@bash tools/run_demo.sh '$(subst ','\'',$(value PROMPT))' $(STUDENT_ARGS)

# INSTALL_BIN= installs another build of t2v (tests/test_make.c installs the
# one it tests).
PREFIX      ?= /usr/local
INSTALL_BIN ?= $(BUILD)/t2v$(EXE)
install: $(INSTALL_BIN)
	@test -f models/demo/config.json || { echo "make install: no demo model in models/demo" >&2; exit 1; }
	install -d '$(DESTDIR)$(PREFIX)/bin' '$(DESTDIR)$(PREFIX)/share/t2v/models/demo'
	install -m 755 '$(INSTALL_BIN)' '$(DESTDIR)$(PREFIX)/bin/t2v$(EXE)'
	cp -R models/demo/. '$(DESTDIR)$(PREFIX)/share/t2v/models/demo/'
	install -m 644 golden/tolerances.json '$(DESTDIR)$(PREFIX)/share/t2v/tolerances.json'

golden:
	$(PYTHON) tools/make_golden.py

# FUZZ_RUNS=N: N executions per target instead of FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz:
	@bash tests/fuzz/run.sh $(if $(FUZZ_RUNS),--runs $(FUZZ_RUNS),$(FUZZ_SECONDS))

# The C side of the benchmark (bench/*.c with the library); tools/bench.py
# builds it for BLAS=openblas and BLAS=none and runs it beside PyTorch.
$(BUILD)/bench/%$(EXE): bench/%.c $(LIB_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIB_OBJ) -o $@ $(LDFLAGS) $(LDLIBS)

bench: all
	$(PYTHON) tools/bench.py $(if $(QUICK),--quick,) $(if $(SDCPP),--sdcpp $(SDCPP),) $(BENCH_ARGS)
	$(if $(QUICK),,$(PYTHON) tools/bench_fewsteps.py)

# MPI ranks against threads: 2 x 1 against 1 x 2 on dit-block-1560 and
# dit-1280 (docs/SCALING.md; needs OpenMPI's mpicc).
bench-mpi:
	$(PYTHON) tools/bench_mpi.py $(BENCH_MPI_ARGS)

# Long clips in context windows: DiT and VAE time per frame and peak RSS, the
# demo at 81..961 frames and the synthetic 1.3B at 256x256, 17..161 frames
# (bench/long.md; about an hour at 1 thread, most of it the 1.3B).
bench-long: all
	$(PYTHON) tools/bench_long.py $(BENCH_LONG_ARGS)

bench-causal: all
	$(PYTHON) tools/bench_causal.py $(BENCH_CAUSAL_ARGS)

# CROSS="aarch64 s390x" picks platforms; see tests/cross/run.sh for the list.
CROSS ?= x86_64-gcc x86_64-clang x86_64-portable aarch64 s390x mingw64
cross-test:
	@bash tests/cross/run.sh $(CROSS)

demo-model:
	$(PYTHON) tools/train_demo.py

# The demo's adapters (models/demo/lora): the 4-step student, then the lime
# LoRA (which reuses the student's teacher samples in /tmp/t2v-student-work),
# in two phases as the committed file was (models/demo/README.md).
demo-adapters:
	nice -n 19 $(PYTHON) tools/train_student.py
	nice -n 19 $(PYTHON) tools/train_lora.py
	nice -n 19 $(PYTHON) tools/train_lora.py --from models/demo/lora/lime.safetensors --minutes 8 --steps 500 \
	    --lr 5e-4 --lime-share 0.75

clean:
	rm -rf build ref/t2v
