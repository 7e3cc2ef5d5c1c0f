// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.BlksnapControl;
import dev.blksnap.BlksnapException;
import dev.blksnap.CbtInfo;
import dev.blksnap.DeviceId;
import dev.blksnap.KernelOutOfMemoryException;
import dev.blksnap.SectorRange;
import dev.blksnap.internal.RawIoctl;
import dev.blksnap.it.fault.Aim;
import dev.blksnap.it.fault.FailNth;
import dev.blksnap.it.fault.FaultInjector;
import dev.blksnap.it.fault.FaultPoint;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static dev.blksnap.it.fault.FaultPoint.MAKE_REQUEST;
import static dev.blksnap.it.fault.FaultPoint.PAGE_ALLOC;
import static dev.blksnap.it.fault.FaultPoint.SLAB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * blksnap.ko under injected faults (the debug lane; skipped on kernels
 * without fault injection): every allocation each ioctl makes, and every
 * allocation site of the module's load, fails once in turn; random allocation failures hit write
 * tracking under load, a resize, hot-unplug and unload; I/O errors hit a
 * tracked disk. Each failure must end in a clean errno or a tracker that
 * reports itself broken, never an oops, a leak (the per-class kmemleak
 * check), a hang, or a failed or lost write on the device. Every test
 * prints how many faults it injected; the class prints the total.
 */
@Order(8)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FaultInjectionTest extends ItBase {
    private static final long LOOP_CTL_REMOVE = 0x4C81;
    private final Path disk = Guest.disk(1);
    private final Path ioErrorDisk = Guest.disk(2);
    private final Map<String, Long> injected = new LinkedHashMap<>();

    @BeforeAll
    void faultInjectionKernel() {
        assumeTrue(FaultPoint.allAvailable(), "this kernel has no fault injection in debugfs (the debug lane has)");
    }

    @AfterAll
    void total() {
        if (injected.isEmpty()) {
            return;
        }
        long sum = injected.values().stream().mapToLong(Long::longValue).sum();
        System.out.println("[faults] FaultInjectionTest: " + sum + " faults injected " + injected);
    }

    private void count(String what, long faults) {
        injected.merge(what, faults, Long::sum);
        System.out.println("[faults] " + what + ": " + faults + " faults injected");
    }

    /** "ok" or the errno name a library call ended with. */
    private static String outcome(BlksnapCall call) {
        try {
            call.run();
            return "ok";
        } catch (BlksnapException e) {
            return e.errnoName();
        }
    }

    @FunctionalInterface
    private interface BlksnapCall {
        void run() throws BlksnapException;
    }

    private static List<String> insmod() {
        List<String> cmd = Guest.list("insmod", Guest.moduleFile().toString());
        cmd.addAll(Guest.insmodArgs());
        return cmd;
    }

    private static void rmmod() {
        Guest.runOk("rmmod", "blksnap");
        assertFalse(Guest.moduleLoaded(), "/sys/module/blksnap after rmmod");
    }

    /**
     * One load with its n-th allocation failing: whether the fault was
     * injected, and the call stack it was injected at (null when none).
     */
    private record LoadProbe(boolean fired, String site) {
    }

    /**
     * Consecutive faults at one call stack that must be seen before the
     * sweep skips through the rest of that run (a reserve being filled:
     * mempool_create() allocates each element from one call). Four sites
     * in a row exclude a loop that alternates allocations of two sites.
     */
    private static final int SAME_SITE_BEFORE_SKIP = 4;

    /**
     * Every allocation site of the module's load fails once in turn: the
     * load must either fail with ENOMEM and leave nothing (no
     * /sys/module/blksnap, no control device, no leak: the kmemleak check)
     * or work. The kernel logs each fault's call stack; where four faults in
     * a row had the same stack (a mempool's reserve of 64 or 256 elements,
     * allocated one by one from one call, whose failure blksnap handles the
     * same whichever element fails), the sweep doubles its step until the
     * stack changes, then bisects for the first allocation of the next site;
     * every allocation probed on the way is checked like the others. Under
     * a lane budget (make check on a slow machine) the sweep stops early
     * and says where.
     */
    @Test
    @Order(1)
    @Timeout(value = 40, unit = TimeUnit.MINUTES) // 200-odd loads of 3-8 s on the debug lane
    void moduleLoadSurvivesEachOfItsAllocationsFailing() throws Exception {
        ctl.close();
        ctl = null;
        rmmod();
        Map<Integer, LoadProbe> probes = new HashMap<>();
        Set<String> sites = new HashSet<>();
        int last;
        FailNth.aimAt(Aim.MODULE_AREA);
        // kmemleak's record of each allocation: __alloc_object() and
        // __create_object(), the next function in mm/kmemleak.c's text
        // being delete_object_part() (6.12).
        FailNth.spare("__alloc_object", "delete_object_part");
        FailNth.logFaultStacks();
        long start = System.nanoTime();
        boolean cut = false;
        try {
            int n = 1;
            String runSite = null;
            int runLength = 0;
            while (true) {
                if (sweepBudgetSpent(start)) {
                    cut = true;
                    break;
                }
                LoadProbe p = probes.computeIfAbsent(n, FaultInjectionTest::loadWithFailing);
                if (!p.fired()) {
                    break;
                }
                sites.add(p.site() == null ? "unlogged fault " + n : p.site());
                runLength = p.site() != null && p.site().equals(runSite) ? runLength + 1 : 1;
                runSite = p.site();
                if (runLength < SAME_SITE_BEFORE_SKIP) {
                    n++;
                    continue;
                }
                // [n - 3, n] failed one call: find where its run ends.
                int lo = n;
                int hi = n;
                for (int step = 2; ; step *= 2) {
                    hi = lo + step;
                    LoadProbe h = probes.computeIfAbsent(hi, FaultInjectionTest::loadWithFailing);
                    if (!h.fired() || !runSite.equals(h.site())) {
                        break;
                    }
                    lo = hi;
                }
                while (hi - lo > 1) {
                    int mid = (lo + hi) >>> 1;
                    LoadProbe m = probes.computeIfAbsent(mid, FaultInjectionTest::loadWithFailing);
                    if (m.fired() && runSite.equals(m.site())) {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                n = hi;
                runSite = null;
                runLength = 0;
            }
            last = n - 1;
        } finally {
            FailNth.resetPoints();
            Guest.ensureModuleLoaded();
        }
        long faults = probes.values().stream().filter(LoadProbe::fired).count();
        System.out.println("[faults] module load: " + last + " allocations at " + sites.size()
                + " call stacks; " + faults + " of them failed once, " + probes.size() + " loads"
                + (cut ? "; the lane's time budget cut the sweep there (make check-debug sweeps them all)" : ""));
        assertTrue(faults > 0, "no allocation of the module load failed: the fail-nth aim missed the module");
        count("module load", faults);
    }

    /**
     * Under a lane budget (LaneBudget), the sweep stops at a quarter of it,
     * or when it is spent: on a slow machine the whole sweep, 200-odd loads
     * of up to 12 s, took half an hour of CI's hour.
     */
    private static boolean sweepBudgetSpent(long startNanos) {
        long minutes = LaneBudget.minutes();
        return minutes > 0 && (LaneBudget.spent()
                || System.nanoTime() - startNanos >= TimeUnit.MINUTES.toNanos(minutes) / 4);
    }

    /**
     * insmod with its n-th allocation in the module's code failing; checks
     * the outcome, unloads a module that loaded, and reads the fault's call
     * stack from the kernel log (after a marker written just before).
     */
    private static LoadProbe loadWithFailing(int n) {
        assertTrue(n <= 5000, "module load still reaches new allocations at " + n);
        String marker = "blksnap-it fail-nth probe " + n;
        List<String> cmd = new ArrayList<>(List.of("sh", "-c",
                "echo \"$0\" >/dev/kmsg; (echo " + n + " >/proc/self/fail-nth && exec \"$@\"); rc=$?;"
                        + " dmesg | sed -n \"/$0\\$/,\\$p\"; exit $rc", marker));
        cmd.addAll(insmod());
        long before = FailNth.times();
        Guest.Result r = Guest.run(cmd, Map.of());
        boolean fired = FailNth.times() < before;
        String site = fired ? FailNth.faultStack(r.stdout()) : null;
        if (r.exit() != 0) {
            assertTrue(fired, "insmod failed with no fault injected: " + r.stderr());
            assertFalse(Guest.moduleLoaded(), "a failed load left /sys/module/blksnap");
            assertFalse(Files.exists(Guest.CONTROL), "a failed load left " + Guest.CONTROL);
            assertTrue(r.stderr().contains("Cannot allocate memory"),
                    "allocation " + n + " of the load failed, insmod said: " + r.stderr().strip());
            return new LoadProbe(true, site);
        }
        // Loaded, with or without a fault on the way: it must work.
        Guest.noteLoaded(Guest.insmodArgs());
        Guest.waitUntil(Guest.CONTROL + " to appear", Duration.ofSeconds(10), () -> Files.exists(Guest.CONTROL));
        try (BlksnapControl c = BlksnapControl.open()) {
            c.version();
            assertEquals(List.of(), c.trackers());
        } catch (BlksnapException e) {
            throw new AssertionError("loaded with allocation " + n + " failing (" + fired + "), then: " + e, e);
        }
        // Unloaded even after the last, fault-free load: the sweep's
        // bisection may probe below it again (the test reloads at its end).
        rmmod();
        return new LoadProbe(fired, site);
    }

    @Test
    @Order(2)
    void everyIoctlSurvivesEachOfItsAllocationsFailing(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        DeviceId id = DeviceId.of(disk);
        Guest.settle(disk);
        long faults = 0;
        Map<String, Integer> answers = new TreeMap<>(); // "ioctl: answer" -> runs with a fault injected
        try (DiskIo io = new DiskIo(disk); FailNth nth = new FailNth(Aim.module("blksnap", 32))) {
            Map<String, Integer> perCall = new LinkedHashMap<>();
            int swept = nth.sweep("attach " + disk, 300, n -> outcome(() -> ctl.attach(id)), (n, fired, out) -> {
                answers.merge("attach: " + out, fired ? 1 : 0, Integer::sum);
                boolean listed = ctl.trackers().contains(id);
                assertTrue(out.equals("ok") || fired && out.equals("ENOMEM"),
                        "attach with allocation " + n + " failing (" + fired + "): " + out);
                assertEquals(out.equals("ok"), listed, "attach answered " + out + ", tracker listed: " + listed);
                if (fired && listed) {
                    ctl.detach(id);
                }
            });
            perCall.put("attach", swept);
            faults += swept;
            stillTracks(io, id, rnd, "attach");
            List<SectorRange> ranges = new ArrayList<>();
            long sectors = Guest.sizeSectors(disk);
            for (int i = 0; i < 64; i++) {
                ranges.add(new SectorRange(rnd.nextLong(sectors - 8), 1 + rnd.nextInt(8)));
            }
            Map<String, BlksnapCall> calls = new LinkedHashMap<>();
            calls.put("cbt info", () -> ctl.cbtInfo(id));
            calls.put("cbt read", () -> ctl.readMap(id));
            calls.put("cbt mark-dirty", () -> ctl.markDirty(id, ranges));
            calls.put("cbt checkpoint", () -> ctl.checkpoint(id));
            calls.put("tracker list", () -> ctl.trackers());
            for (Map.Entry<String, BlksnapCall> call : calls.entrySet()) {
                swept = nth.sweep(call.getKey(), 300, n -> outcome(call.getValue()), (n, fired, out) -> {
                    answers.merge(call.getKey() + ": " + out, fired ? 1 : 0, Integer::sum);
                    assertTrue(out.equals("ok") || fired && out.equals("ENOMEM"),
                            call.getKey() + " with allocation " + n + " failing (" + fired + "): " + out);
                    assertTrue(ctl.trackers().contains(id), "tracker gone after " + call.getKey());
                });
                perCall.put(call.getKey(), swept);
                faults += swept;
                stillTracks(io, id, rnd, call.getKey());
            }
            BitSet marked = Blocks.changed(ctl.readMap(id), 0);
            CbtInfo info = ctl.cbtInfo(id);
            for (SectorRange r : ranges) {
                Blocks want = expect(info).cover(r.offset() * 512, r.count() * 512);
                BitSet missing = want.bits();
                missing.andNot(marked);
                assertTrue(missing.isEmpty(), "mark-dirty range " + r + " not in the map: blocks " + missing);
            }
            swept = nth.sweep("detach " + disk, 300, n -> outcome(() -> ctl.detach(id)), (n, fired, out) -> {
                answers.merge("detach: " + out, fired ? 1 : 0, Integer::sum);
                boolean listed = ctl.trackers().contains(id);
                assertTrue(out.equals("ok") || fired && out.equals("ENOMEM"),
                        "detach with allocation " + n + " failing (" + fired + "): " + out);
                assertEquals(!out.equals("ok"), listed, "detach answered " + out + ", tracker listed: " + listed);
                if (fired && !listed) {
                    ctl.attach(id);
                }
            });
            perCall.put("detach", swept);
            faults += swept;
            System.out.println("[faults] allocations failed, per ioctl: " + perCall);
            // The header allows ENOMEM exactly where these allocate: a
            // sweep that injected nothing there missed the code it is for.
            for (String allocates : List.of("attach", "cbt read", "cbt mark-dirty")) {
                assertTrue(perCall.get(allocates) > 0, allocates + " allocates (the header allows it ENOMEM)"
                        + " but no allocation of it failed: the fail-nth aim missed it");
            }
        } finally {
            if (ctl.trackers().contains(id)) {
                ctl.detach(id);
            }
        }
        System.out.println("[faults] answers with one allocation failing: " + answers);
        count("ioctls, each allocation failed once", faults);
    }

    /** A write after the faults is still marked: the tracker survived. */
    private void stillTracks(DiskIo io, DeviceId id, SplittableRandom rnd, String after) throws Exception {
        CbtInfo info = ctl.cbtInfo(id);
        assertFalse(info.corrupted(), "the map reports itself incomplete after faults in " + after);
        long page = rnd.nextLong(info.capacityBytes() / DiskIo.PAGE);
        io.direct(page * DiskIo.PAGE, DiskIo.PAGE, rnd);
        int block = (int) (page * DiskIo.PAGE / info.blockSize());
        assertTrue(Blocks.changed(ctl.readMap(id), 0).get(block),
                "a write to block " + block + " after faults in " + after + " is not in the map");
    }

    @Test
    @Order(3)
    void trackedWritesUnderRandomAllocationFailuresLandAndAreMarked(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        for (int probability : new int[] {10, 100}) {
            DeviceId id = attach(disk);
            Map<String, AtomicLong> answers = new ConcurrentHashMap<>();
            Map<Long, Long> written;
            long faults;
            try (FaultInjector f = FaultInjector.arm(Set.of(SLAB, PAGE_ALLOC), Aim.module("blksnap", 32),
                    probability); PageWriter writer = new PageWriter(disk, rnd.nextLong(), 400)) {
                List<SectorRange> one = List.of(new SectorRange(0, 1));
                List<BlksnapCall> calls = List.of(() -> ctl.cbtInfo(id), () -> ctl.readMap(id),
                        () -> ctl.markDirty(id, one), () -> ctl.checkpoint(id), () -> ctl.trackers());
                while (writer.running()) {
                    String out = outcome(calls.get(rnd.nextInt(calls.size())));
                    answers.computeIfAbsent(out, k -> new AtomicLong()).incrementAndGet();
                    assertTrue(out.equals("ok") || out.equals("ENOMEM"), "an ioctl under faults answered " + out);
                }
                written = writer.finish("to the tracked disk under allocation faults (" + probability + "%)");
                faults = f.injected();
            }
            System.out.println("[faults] " + probability + "%: ioctl answers " + answers + ", " + written.size()
                    + " pages written");
            assertTrue(faults > 0, "no allocation failed at " + probability + "%: the faults missed the module");
            verifyPages(disk, written);
            // The contract flags a map incomplete when it cannot follow
            // the device (a resize without memory). No resize happens
            // here, and a write's accounting falls back on a mempool that
            // waits rather than fails, so the map must be whole and hold
            // every write.
            CbtInfo info = ctl.cbtInfo(id);
            assertFalse(info.corrupted(), "the map reports itself incomplete after allocation faults at "
                    + probability + "% with no resize: " + info);
            BitSet marked = Blocks.changed(ctl.readMap(id), 0);
            for (long page : written.keySet()) {
                int block = (int) (page * DiskIo.PAGE / info.blockSize());
                assertTrue(marked.get(block), "page " + page + " written under faults, block " + block
                        + " not marked");
            }
            detach(id);
            count("write tracking at " + probability + "%", faults);
        }
    }

    private static final Path REUSE = Path.of("/sys/module/blksnap/parameters/inflight_bio_reuse");
    private static final Path INFLIGHT_COUNTERS = Path.of("/sys/kernel/debug/blksnap/inflight");

    /** The count after {@code name} in /sys/kernel/debug/blksnap/inflight. */
    private static long inflightCounter(String name) throws IOException {
        String[] words = Files.readString(INFLIGHT_COUNTERS).trim().split("\\s+");
        for (int i = 0; i + 1 < words.length; i++) {
            if (words[i].equals(name)) {
                return Long.parseLong(words[i + 1]);
            }
        }
        throw new AssertionError("no " + name + " in " + INFLIGHT_COUNTERS + ": " + String.join(" ", words));
    }

    /**
     * The tracked write's last resort: with the per-CPU contexts off and
     * every module allocation failing, 64 writes sent in one io_submit()
     * (one plug: all pass the hook before the first completes) empty the
     * reserve of 8, so the hook must send writes the sleeping way
     * (filter_submit_bio_slow()). fio verifies every byte it wrote, and
     * every block it wrote must be marked.
     */
    @Test
    @Order(3)
    void writesWithNoContextLeftTakeTheSleepingPathAndAreMarked() throws Exception {
        long bytes = 16 << 20;
        DeviceId id = attach(ioErrorDisk);
        long noneBefore = inflightCounter("none_without_sleeping");
        long faults;
        Files.writeString(REUSE, "N");
        try (FaultInjector f = FaultInjector.arm(Set.of(SLAB), Aim.module("blksnap", 32), 100)) {
            Guest.Result r = Guest.run("fio", "--name=deep", "--filename=" + ioErrorDisk, "--ioengine=libaio",
                    "--iodepth=64", "--iodepth_batch_submit=64", "--iodepth_batch_complete_min=64", "--direct=1",
                    "--rw=write", "--bs=4k", "--size=" + bytes,
                    "--verify=crc32c", "--do_verify=1");
            assertEquals(0, r.exit(), "fio under allocation faults: " + r.stdout() + r.stderr());
            faults = f.injected();
        } finally {
            Files.writeString(REUSE, "Y");
        }
        long slow = inflightCounter("none_without_sleeping") - noneBefore;
        System.out.println("[faults] no context without sleeping for " + slow + " writes; " + faults
                + " faults injected");
        assertTrue(slow > 0, "no write took the sleeping path: 64 in flight, reserve of 8, every allocation failing");
        CbtInfo info = ctl.cbtInfo(id);
        assertFalse(info.corrupted(), "the map reports itself incomplete: " + info);
        BitSet marked = Blocks.changed(ctl.readMap(id), 0);
        long blocks = bytes / info.blockSize();
        int unmarked = 0;
        for (int b = 0; b < blocks; b++) {
            unmarked += marked.get(b) ? 0 : 1;
        }
        assertEquals(0, unmarked, "blocks fio wrote (all of the first " + blocks + ") not marked");
        detach(id);
        count("writes with no context left", faults);
    }

    /** Writes random pages of a device with O_DIRECT on a thread of its own, remembering what it wrote. */
    private static final class PageWriter implements AutoCloseable {
        private final Map<Long, Long> written = new ConcurrentHashMap<>();
        private final AtomicBoolean stop = new AtomicBoolean();
        private final AtomicReference<Throwable> failed = new AtomicReference<>();
        private final Thread thread;

        /** Starts writing {@code limit} pages, or until {@link #finish}; page content comes from {@code seed}. */
        PageWriter(Path dev, long seed, int limit) {
            long pages = Guest.sizeSectors(dev) * 512 / DiskIo.PAGE;
            thread = Thread.ofPlatform().name("page-writer").start(() -> {
                SplittableRandom w = new SplittableRandom(seed);
                try (DiskIo io = new DiskIo(dev)) {
                    for (int i = 0; i < limit && !stop.get(); i++) {
                        long page = w.nextLong(pages);
                        long pageSeed = w.nextLong();
                        io.direct(page * DiskIo.PAGE, DiskIo.PAGE, new SplittableRandom(pageSeed));
                        written.put(page, pageSeed);
                    }
                } catch (Throwable t) {
                    failed.set(t);
                }
            });
        }

        boolean running() {
            return thread.isAlive();
        }

        /** Stops, waits, fails if a write failed; returns page → content seed of every write. */
        Map<Long, Long> finish(String when) {
            close();
            if (failed.get() != null) {
                throw new AssertionError("a write failed " + when, failed.get());
            }
            return Map.copyOf(written);
        }

        /** Stops and waits: a test must not go on while its writer still writes. */
        @Override
        public void close() {
            stop.set(true);
            boolean interrupted = false;
            while (thread.isAlive()) {
                try {
                    thread.join();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Reads back every page and compares it with what its seed generates. */
    private static void verifyPages(Path dev, Map<Long, Long> written) throws Exception {
        try (DiskIo io = new DiskIo(dev)) {
            for (Map.Entry<Long, Long> e : written.entrySet()) {
                assertTrue(io.holds(e.getKey() * DiskIo.PAGE, DiskIo.PAGE, new SplittableRandom(e.getValue())),
                        "page " + e.getKey() + " of " + dev + " does not hold what was written to it");
            }
        }
    }

    @Test
    @Order(4)
    void resizeUnderAllocationFailuresFollowsOrReportsTheMapIncomplete(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path file = Path.of("/tmp/blksnap-fault-resize.img");
        Guest.runOk("truncate", "-s", "32M", file.toString());
        Path loop = Path.of(Guest.runOk("losetup", "-f", "--show", file.toString()).strip());
        try {
            DeviceId id = attach(loop);
            CbtInfo before = ctl.cbtInfo(id);
            long faults;
            Map<Long, Long> written = new LinkedHashMap<>();
            try (FaultInjector f = FaultInjector.arm(Set.of(SLAB, PAGE_ALLOC), Aim.module("blksnap", 32), 100)) {
                Guest.runOk("truncate", "-s", "48M", file.toString());
                Guest.runOk("losetup", "-c", loop.toString());
                try (DiskIo io = new DiskIo(loop)) {
                    long page = (40L << 20) / DiskIo.PAGE; // beyond the old end
                    long seed = rnd.nextLong();
                    io.direct(page * DiskIo.PAGE, DiskIo.PAGE, new SplittableRandom(seed));
                    written.put(page, seed);
                }
                CbtInfo during = ctl.cbtInfo(id);
                faults = f.injected();
                assertTrue(faults > 0, "no fault was injected: the resize allocated nothing?");
                assertTrue(during.corrupted(), "the map could not follow the resize (all allocations failed) but "
                        + "does not say so: " + during);
                assertNotEquals(before.generation(), during.generation(),
                        "a map flagged corrupted kept its generation: a tool comparing generations would trust it");
            }
            verifyPages(loop, written);
            CbtInfo after = ctl.cbtInfo(id);
            assertTrue(after.corrupted() || after.capacitySectors() == (48L << 20) / 512,
                    "after the faults: " + after);
            count("resize at 100%", faults);
        } finally {
            Guest.run("losetup", "-d", loop.toString());
            Files.deleteIfExists(file);
        }
    }

    @Test
    @Order(5)
    void ioErrorsReachTheWriterUnchangedAndTheMapStaysCorrect(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        DeviceId id = attach(ioErrorDisk);
        CbtInfo info = ctl.cbtInfo(id);
        long pages = info.capacityBytes() / DiskIo.PAGE;
        Path makeItFail = Path.of("/sys/class/block", Guest.kernelName(ioErrorDisk), "make-it-fail");
        List<Long> attempted = new ArrayList<>();
        Map<Long, Long> landed = new LinkedHashMap<>();
        Map<Long, byte[]> before = new LinkedHashMap<>();
        int errors = 0;
        long faults;
        try (Arena arena = Arena.ofConfined(); DiskIo io = new DiskIo(ioErrorDisk)) {
            BitSet used = new BitSet();
            while (attempted.size() < 300) {
                long page = rnd.nextLong(pages);
                if (!used.get((int) page)) {
                    used.set((int) page);
                    attempted.add(page);
                    before.put(page, io.readDirect(page * DiskIo.PAGE, DiskIo.PAGE));
                }
            }
            int fd = Posix.open(ioErrorDisk, Posix.O_RDWR | Posix.O_DIRECT);
            MemorySegment buf = Posix.aligned(arena, DiskIo.PAGE);
            try {
                Files.writeString(makeItFail, "1");
                try (FaultInjector f = FaultInjector.arm(Set.of(MAKE_REQUEST), new Aim.Everywhere(), 30)) {
                    for (long page : attempted) {
                        long seed = rnd.nextLong();
                        MemorySegment.copy(MemorySegment.ofArray(
                                DiskIo.pattern(DiskIo.PAGE, new SplittableRandom(seed))), 0, buf, 0, DiskIo.PAGE);
                        long rc = Posix.pwriteRaw(fd, buf, page * DiskIo.PAGE);
                        if (rc == DiskIo.PAGE) {
                            landed.put(page, seed);
                        } else if (rc == -Posix.EIO) {
                            errors++;
                        } else {
                            fail("a 4 KiB O_DIRECT write under fail_make_request returned " + rc
                                    + " (want 4096 or -EIO)");
                        }
                    }
                    faults = f.injected();
                } finally {
                    Files.writeString(makeItFail, "0");
                }
            } finally {
                Posix.close(fd);
            }
            assertEquals(faults, errors, "each injected I/O error must reach the writer once, as EIO");
            assertTrue(errors > 0 && !landed.isEmpty(), errors + " errors, " + landed.size() + " writes landed");
            for (long page : attempted) {
                if (!landed.containsKey(page)) {
                    assertTrue(io.holdsBytes(page * DiskIo.PAGE, before.get(page)),
                            "page " + page + " changed although its write failed");
                }
            }
        }
        verifyPages(ioErrorDisk, landed);
        BitSet marked = Blocks.changed(ctl.readMap(id), 0);
        Blocks attemptedBlocks = expect(info);
        for (long page : attempted) {
            attemptedBlocks.cover(page * DiskIo.PAGE, DiskIo.PAGE);
        }
        for (long page : landed.keySet()) {
            int block = (int) (page * DiskIo.PAGE / info.blockSize());
            assertTrue(marked.get(block), "page " + page + " was written but block " + block + " is not marked");
        }
        BitSet extra = (BitSet) marked.clone();
        extra.andNot(attemptedBlocks.bits());
        assertTrue(extra.isEmpty(), "blocks marked that no write touched: " + extra);
        System.out.println("[faults] " + attempted.size() + " writes, " + errors + " failed with EIO, "
                + landed.size() + " landed");
        count("I/O errors (fail_make_request 30%)", faults);
    }

    @Test
    @Order(6)
    void hotUnplugAndUnloadUnderAllocationFailures(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        List<Path> files = new ArrayList<>();
        List<Path> loops = new ArrayList<>();
        long faults;
        Map<Long, Long> written;
        try {
            for (int i = 0; i < 3; i++) {
                Path file = Path.of("/tmp/blksnap-fault-unplug" + i + ".img");
                Guest.runOk("truncate", "-s", "16M", file.toString());
                files.add(file);
                Path loop = Path.of(Guest.runOk("losetup", "-f", "--show", file.toString()).strip());
                loops.add(loop);
                ctl.attach(DeviceId.of(loop));
            }
            attach(disk);
            try (FaultInjector f = FaultInjector.arm(Set.of(SLAB, PAGE_ALLOC), Aim.module("blksnap", 32), 50)) {
                for (Path loop : loops) {
                    DeviceId id = DeviceId.of(loop);
                    int minor = id.minor();
                    Guest.runOk("losetup", "-d", loop.toString());
                    int fd = RawIoctl.openControl(Path.of("/dev/loop-control"));
                    assertTrue(fd >= 0, "open /dev/loop-control: " + fd);
                    try {
                        Guest.waitUntil("LOOP_CTL_REMOVE of " + loop, Duration.ofSeconds(20),
                                () -> RawIoctl.ioctlAddress(fd, LOOP_CTL_REMOVE, minor) == 0);
                    } finally {
                        RawIoctl.close(fd);
                    }
                    Guest.waitUntil("the tracker of the removed " + loop + " to leave the list",
                            Duration.ofSeconds(15), () -> listedWithout(id));
                }
                // Unload while the tracked disk is written to, faults still on.
                try (PageWriter writer = new PageWriter(disk, rnd.nextLong(), Integer.MAX_VALUE)) {
                    Thread.sleep(500);
                    ctl.close();
                    ctl = null;
                    rmmod();
                    Thread.sleep(500);
                    written = writer.finish("while the module unloaded under allocation faults");
                }
                faults = f.injected();
            }
            verifyPages(disk, written);
            System.out.println("[faults] " + written.size() + " pages written across the unload");
        } finally {
            for (Path loop : loops) {
                Guest.run("losetup", "-d", loop.toString());
            }
            for (Path file : files) {
                Files.deleteIfExists(file);
            }
            Guest.ensureModuleLoaded();
            ctl = BlksnapControl.open();
        }
        assertTrue(faults > 0, "no allocation failed around hot-unplug and unload at 50%");
        count("hot-unplug and unload at 50%", faults);
    }

    /** Whether the tracker list, when the faults let it through, no longer has {@code id}. */
    private boolean listedWithout(DeviceId id) {
        try {
            return !ctl.trackers().contains(id);
        } catch (KernelOutOfMemoryException injected) {
            return false;
        } catch (BlksnapException e) {
            throw new AssertionError("tracker list under allocation faults: " + e.getMessage(), e);
        }
    }
}
