# SPDX-License-Identifier: GPL-2.0
#
# blksnap: top-level build. Ties Kbuild (module/) and Maven (lib/, utils/,
# tests/integration/) together. `make help` lists the targets.

LANES ?= 6.1 6.12
KDIR ?= /lib/modules/$(shell uname -r)/build
PREFIX ?= /usr/local
DESTDIR ?=
KREL ?= $(shell uname -r)

JAVA_HOME := $(shell scripts/find-jdk 2>/dev/null)
MVN = JAVA_HOME=$(JAVA_HOME) MAVEN_OPTS="--sun-misc-unsafe-memory-access=allow" mvn -B --no-transfer-progress

.PHONY: all help deps java-home module modules java java-test vm-selftest vm-suite check debug-kernel check-debug soak demo \
	bench-cbt bench-cbt-nullb bench-snapshot bench-backup bench-icount install uninstall clean

# The preflight (scripts/deps: installs what is missing as root, else prints
# the apt-get line and stops) runs once, before anything is built or booted,
# for what all the goals on the command line need. Serial, so that it stays
# first under make -j too (Kbuild and Maven still build in parallel inside).
.NOTPARALLEL:
GOALS := $(or $(MAKECMDGOALS),all)
DEPS := $(sort \
	$(if $(filter all install java java-test,$(GOALS)),java) \
	$(if $(filter modules,$(GOALS)),build) \
	$(if $(filter deps check demo vm-selftest vm-suite check-debug soak bench-cbt bench-cbt-nullb bench-snapshot bench-backup bench-icount,$(GOALS)),all) \
	$(if $(filter debug-kernel check-debug soak,$(GOALS)),debug))

all: module java

help:
	@echo "make            build blksnap.ko for the running kernel (or KDIR=...) and the Java artifacts"
	@echo "make check      install what is missing (as root), build on every lane, run unit and VM tests"
	@echo "make demo       boot a VM, back up a live ext4 file system (full, then incremental), restore and check both"
	@echo "make check-debug  the VM suite, fault injection and 10^6 fuzzed ioctls on a KASAN/lockdep/kmemleak"
	@echo "                 kernel (built once, cached; make check runs it too once it is cached)"
	@echo "make soak       snapshot cycles under fio --verify with overflows and faults, SOAK_MINUTES (30) on the debug lane"
	@echo "make bench-cbt  fio overhead of the filter and the tracker, side by side in one VM run"
	@echo "make bench-cbt-nullb  the same on null_blk: the CPU cost per bio, no device time"
	@echo "make bench-snapshot  fio with a snapshot (fresh and copied chunks) vs none vs dm-snapshot; image reads; hold at take"
	@echo "make bench-backup  full backup vs dd of the same snapshot image; incremental bytes read vs what changed"
	@echo "make bench-icount  exact guest instructions per write: not loaded, loaded, other disk tracked, tracked, snapshot (copied chunks)"
	@echo "make modules    build build/lanes/{$(LANES)}/blksnap.ko with W=1 (warnings fail)"
	@echo "make deps       install what the targets above need (as root), or print the apt-get line"
	@echo "make install    module into /lib/modules/\$$(uname -r)/extra, launcher into $(PREFIX)/bin"
	@echo "make uninstall  undo make install"

deps:
	@scripts/deps $(or $(DEPS),all)

java-home:
	@test -n "$(JAVA_HOME)" || scripts/find-jdk

module:
	@test -d "$(KDIR)" || { echo "no kernel headers at $(KDIR): install linux-headers-$(KREL) or pass KDIR=..."; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR)/module BLKSNAP_INCLUDE=$(CURDIR)/include modules

modules: deps
	@for lane in $(LANES); do scripts/build-module $$lane || exit 1; done

java: deps java-home
	$(MVN) -q package -DskipTests

java-test: deps java-home
	$(MVN) verify

vm-selftest: deps
	tests/vm/selftest $(LANES)

# Runs the debug lane too when its kernel is cached (see check-debug).
# Time budgets in minutes (0: none) that keep CI in bounds on a slow
# machine and change nothing on one where the suite fits: the fuzzer's
# (10^6 calls on the debug lane took 17 minutes on one machine of this
# kind, about 55 on a slower one, TCG inside a Firecracker VM), and the
# debug lane's other classes (30 minutes there, about 110 on the slower
# one): past them the fuzzer stops, classes not started are skipped, and
# the lane's closing line says how many calls ran and classes did not.
# On the slower machine each stock lane takes 28 minutes and Maven with
# the VM self-test 7, so 15 + 19 minutes (plus boots, the test running
# when a budget ends and kmemleak scans: about 19 and 24) put both cores
# at about 55 and 60 minutes. The debug lane's budget skips tests, not only
# classes, and cuts FaultInjectionTest's sweep of the module's load (half
# an hour there) at a quarter of it.
# DEBUG_FIRST: the classes the debug lane runs first, so that a budget
# skips the others: what only its kernel checks (fault injection, KASAN
# and lockdep over copy-on-write, storage, images and in-flight counting);
# the CBT, CLI, backup and oracle classes, mostly user space, come after.
# make check-debug runs the debug lane with no budget, in the usual order.
FUZZ_MINUTES ?= 15
DEBUG_MINUTES ?= 19
DEBUG_FIRST ?= FaultInjectionTest|Snapshot.*Test|Storage.*Test|SeveralSnapshotsTest|InFlightWritesTest|ModuleUnloadTest
vm-suite: deps modules java
	tests/run-vm-suite --lanes "$(LANES)" --fuzz-minutes $(FUZZ_MINUTES) --debug-minutes $(DEBUG_MINUTES) \
		--debug-first '$(DEBUG_FIRST)'

check: deps modules java-test vm-selftest vm-suite

# The debug-kernel lane (KASAN, lockdep, kmemleak, UBSAN, fault injection):
# the first run builds the kernel (15-40 minutes on 2 cores, cached); from
# then on make check (and CI on this machine) runs the lane as well.
debug-kernel: deps
	tests/vm/debug-kernel/build

check-debug: deps debug-kernel java
	tests/run-vm-suite --lanes debug --debug no

# Snapshot cycles on three devices under fio --verify, with overflows and
# allocation faults, for SOAK_MINUTES on the debug lane (SoakTest; not in
# make check).
SOAK_MINUTES ?= 30
soak: deps debug-kernel java
	BLKSNAP_SOAK_MINUTES=$(SOAK_MINUTES) tests/run-vm-suite --lanes debug --debug no --tests SoakTest --fuzz-calls 0

demo: deps modules java
	tests/vm/run --kernel 6.1 --disks 1x256M,1x512M --timeout 900 \
		--module build/lanes/6.1/blksnap.ko -- tests/demo/guest-demo

# One vCPU: with two, a descheduled vCPU makes the other spin and the host
# CPU per write (the bench's main measure) loses its meaning. The slab
# debugging the VM suite boots with (slub_debug=FZPU: a stack walk per
# allocation and free) and KFENCE are switched off: the bench measures the
# kernel users run, and its bio path allocates.
BENCH_CBT_KERNEL := --kernel 6.1 --cpus 1 --append "slub_debug=- kfence.sample_interval=0"
bench-cbt: deps modules java
	tests/vm/run $(BENCH_CBT_KERNEL) --disks 2x1G --timeout 3000 \
		--module build/lanes/6.1/blksnap.ko -- tests/bench/guest-bench-cbt

# The same on null_blk: no device time, only the CPU cost per bio.
bench-cbt-nullb: deps modules java
	tests/vm/run $(BENCH_CBT_KERNEL) --timeout 3000 --env BENCH_DEVICE=nullb \
		--module build/lanes/6.1/blksnap.ko -- tests/bench/guest-bench-cbt

# Writes to a device with a snapshot, against none and against dm-snapshot;
# image reads against the device's. Without slab debugging, as bench-cbt:
# copy-on-write and image reads allocate per bio.
# Then (c) against (a), and the image read against the device's, once more
# by exact guest instructions per 4k write and per MiB read (bench-icount's
# states none, copied, origin-read and image-read, BENCH_ICOUNT_ROUNDS
# windows each), which the host's load does not blur as it blurs rates.
# Under TCG the guest finds its TSCs unsynchronized and keeps time with the
# HPET, each read of which is an emulated access under QEMU's global lock.
# The block layer reads the clock for every bio submitted (bio_issue_init),
# so a stacked device such as an image pays one such access more per bio
# than its device, which no machine timing with its TSC does: the bench
# keeps the TSC (BENCH_SNAPSHOT_CLOCK= measures with the HPET).
BENCH_ICOUNT_ROUNDS ?= 8
BENCH_SNAPSHOT_CLOCK ?= tsc=reliable
bench-snapshot: deps modules java build/icount.so
	tests/vm/run --kernel 6.1 --append "slub_debug=- kfence.sample_interval=0 $(BENCH_SNAPSHOT_CLOCK)" \
		--disks 2x1G --timeout 3600 \
		--module build/lanes/6.1/blksnap.ko -- tests/bench/guest-bench-snapshot
	case ",$${BENCH_PARTS:-writes}," in *,writes,*) \
		export BENCH_STATES="none copied origin-read image-read" BENCH_ROUNDS=$(BENCH_ICOUNT_ROUNDS) && $(ICOUNT_RUN) ;; esac

bench-backup: deps modules java
	tests/vm/run --kernel 6.1 --disks 1x256M,1x1G --timeout 3600 \
		--module build/lanes/6.1/blksnap.ko -- tests/bench/guest-bench-backup

# Exact guest instructions per 4k write in each state of the module (not
# loaded, loaded, the other disk tracked, tracked, in a snapshot whose
# chunks are all copied) and per MiB read from the device and from a fresh
# image, what TCG does besides (blocks run, translations,
# vCPU halts), and the kernel functions that differ: a QEMU plugin counts
# them (tests/bench/icount), so the host's load cannot blur a cost of a few
# per cent as it blurs times. BENCH_DEVICE=nullb counts on null_blk.
build/icount.so: tests/bench/icount/icount.c
	mkdir -p build
	$(CC) -O2 -Wall -Wextra -shared -fPIC -fvisibility=hidden -o $@ $< -lpthread

ICOUNT_RUN = out="$(CURDIR)/build/bench-icount/$$(date +%Y%m%d-%H%M%S)" && mkdir -p "$$out" && \
	BLKSNAP_VM_PLUGIN="$(CURDIR)/build/icount.so,dir=$$out" tests/vm/run --kernel 6.1 \
		--append "slub_debug=- kfence.sample_interval=0" --disks 2x512M --timeout 3600 --out "$$out" \
		--module build/lanes/6.1/blksnap.ko -- tests/bench/guest-bench-icount
bench-icount: deps modules java build/icount.so
	$(ICOUNT_RUN)

install: module java
	install -D -m 0644 module/blksnap.ko $(DESTDIR)/lib/modules/$(KREL)/extra/blksnap.ko
	install -D -m 0644 utils/target/blksnap.jar $(DESTDIR)$(PREFIX)/lib/blksnap/blksnap.jar
	install -D -m 0755 utils/blksnap $(DESTDIR)$(PREFIX)/bin/blksnap
	test -n "$(DESTDIR)" || depmod -a $(KREL)

uninstall:
	rm -f $(DESTDIR)/lib/modules/$(KREL)/extra/blksnap.ko
	rm -f $(DESTDIR)$(PREFIX)/lib/blksnap/blksnap.jar $(DESTDIR)$(PREFIX)/bin/blksnap
	-rmdir $(DESTDIR)$(PREFIX)/lib/blksnap 2>/dev/null
	test -n "$(DESTDIR)" || depmod -a $(KREL)

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR)/module clean 2>/dev/null
	rm -rf build
	-$(MVN) -q clean
