// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.fuzz;

import dev.blksnap.BlksnapControl;
import dev.blksnap.DeviceId;
import dev.blksnap.NotTrackedException;
import dev.blksnap.internal.Errno;
import dev.blksnap.internal.Layouts;
import dev.blksnap.internal.RawIoctl;
import dev.blksnap.internal.Uapi;
import dev.blksnap.it.fuzz.IoctlTable.Field;
import dev.blksnap.it.fuzz.IoctlTable.IoctlSpec;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

import static dev.blksnap.internal.Errno.EFAULT;
import static dev.blksnap.internal.Errno.ENOTTY;
import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Fuzzes /dev/blksnap-control: every ioctl of {@link IoctlTable} with
 * random and boundary values in every member, good and bad user pointers,
 * argument structures cut short by a no-access page, unknown request
 * numbers; from several threads at once while loop devices are unplugged,
 * re-plugged and resized under them and written to. Snapshots get real
 * storage ({@link Snapshots}: a few at a time, small, on a tmpfs of their
 * own), so add, take, info, wait and destroy reach past the lookups, and a
 * thread reads (and tries to write) their images meanwhile.
 *
 * <p>The oracle: every call answers 0 or an errno the header allows for
 * that ioctl, exactly EFAULT for a bad argument pointer and exactly ENOTTY
 * for an unknown request; a call that cannot succeed (reserved member set,
 * no such device, zero count...) does not; a success reports sane values
 * and never claims to have used memory that is not there. Afterwards every
 * tracker detaches, the list is empty, the module unloads and loads again,
 * and the kernel log has no new report; the snapshots left are exactly the
 * ones the run kept alive with BLKSNAP_SNAPSHOT_FLAG_KEEP (the others went
 * with their control files), an identifier destroyed once is refused ever
 * after, and no write to a read-only image succeeds (writable ones, created
 * with BLKSNAP_SNAPSHOT_FLAG_WRITABLE, take theirs: bursts of direct and
 * buffered writes, aligned or not, and flushes, each write read back) (the VM bench also judges it: an
 * oops fails the lane; on the debug lane the per-class kmemleak check,
 * dev.blksnap.it.kernel.KmemleakCheck, sees what the run and the unload
 * left behind).
 *
 * <p>Environment: BLKSNAP_FUZZ_CALLS (ioctl calls in all, default 20000;
 * 0 skips), BLKSNAP_FUZZ_MINUTES (a time budget: the calls stop when it is
 * spent, and the run says how many were made; default none, so that a
 * slow machine keeps CI's time in bounds without a fast one making fewer
 * calls), BLKSNAP_FUZZ_THREADS (default 16:
 * most calls that succeed wait for an RCU grace period, so threads beyond
 * the CPU count still add calls per second), BLKSNAP_FUZZ_SEED (default
 * random). Every thread draws from its own generator split off the seed, so
 * a seed replays each thread's sequence of calls exactly (the interleaving
 * of the threads and of the hot-plug events is up to the scheduler).
 *
 * <p>Runs after every other class: it unplugs loop devices and reloads the
 * module.
 */
@Order(100)
class IoctlFuzzTest {
    private static final Path CONTROL = Path.of("/dev/blksnap-control");
    private static final Pattern KERNEL_REPORT = Pattern.compile(
            "BUG:|WARNING:|KASAN|UBSAN|KFENCE|Oops|general protection|possible circular|possible recursive"
                    + "|lockdep|INFO: task .* blocked|stack-protector|refcount_t");
    /** Bytes of user buffers per thread: 65537 ranges of mark-dirty, with room to spare. */
    private static final long BUFFER = 2L << 20;
    private static final int POSITIVE = 200;
    private static final int MAX_REPORTED = 30;

    private final List<IoctlSpec> table = IoctlTable.ALL;
    private final AtomicBoolean stop = new AtomicBoolean();
    /** BLKSNAP_FUZZ_MINUTES spent: the workers end before their share of the calls. */
    private final AtomicBoolean timeUp = new AtomicBoolean();
    private final AtomicLong done = new AtomicLong();
    private final AtomicLong violationCount = new AtomicLong();
    private final ConcurrentLinkedQueue<String> violations = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Throwable> crashes = new ConcurrentLinkedQueue<>();
    private Devices devices;
    private Snapshots snapshots;
    /** BLKSNAP_FEATURE_* bits the module reports: ioctls of other features must answer ENOTTY. */
    private long features;

    private static long envLong(String name, long dflt) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? dflt : Long.parseLong(v.trim());
    }

    /** One fuzzing thread: its own descriptor, memory and generator; counts per ioctl and errno. */
    private final class Worker implements Runnable {
        final int index;
        final long calls;
        final SplittableRandom rnd;
        final long[][] counts = new long[table.size()][POSITIVE + 1];
        /** Nanoseconds spent in the kernel per ioctl and result, to see what the run's time goes to. */
        final long[][] nanos = new long[table.size()][POSITIVE + 1];
        /** The structure as sent: the largest of the table's, or of an unknown request (64 bytes). */
        final byte[] sent = new byte[(int) Math.max(64, table.stream().filter(t -> !t.unknown())
                .mapToLong(t -> t.layout().byteSize()).max().orElse(0))];

        Worker(int index, long calls, SplittableRandom rnd) {
            this.index = index;
            this.calls = calls;
            this.rnd = rnd;
        }

        @Override
        public void run() {
            try (Native.Region arg = Native.Region.map(Native.PAGE); Native.Region buf = Native.Region.map(BUFFER)) {
                Call c = new Call(rnd, devices, snapshots, index, arg, buf);
                int fd = open();
                try {
                    for (long i = 0; i < calls && !stop.get() && !timeUp.get(); i++) {
                        if (c.oneIn(5000)) { // a fresh descriptor now and then: its snapshots without KEEP go
                            RawIoctl.close(fd);
                            snapshots.closed(index);
                            fd = open();
                        }
                        one(c, fd, i);
                        done.incrementAndGet();
                    }
                } finally {
                    RawIoctl.close(fd);
                    snapshots.closed(index);
                }
            } catch (Throwable t) {
                crashes.add(t);
                stop.set(true);
            }
        }

        private static int open() {
            int fd = RawIoctl.openControl(CONTROL);
            if (fd < 0) {
                throw new IllegalStateException("open " + CONTROL + ": " + Errno.name(-fd));
            }
            return fd;
        }

        private void one(Call c, int fd, long i) {
            int k = IoctlTable.pick(rnd);
            IoctlSpec spec = table.get(k);
            long size = spec.unknown() ? 8L * rnd.nextInt(9) : spec.layout().byteSize();
            c.reset(size);
            c.request = spec.request().applyAsLong(rnd);
            if (spec.unknown()) {
                c.garbage(c.scratch, 0, size);
            } else {
                for (Field f : spec.fields()) {
                    f.gen().put(c, c.scratch, f.offset(), f.size());
                }
            }
            boolean argBad = place(c, size);
            MemorySegment.copy(c.scratch, JAVA_BYTE, 0, sent, 0, (int) size);
            long t0 = System.nanoTime();
            int rc = RawIoctl.ioctl(fd, c.request, MemorySegment.ofAddress(c.argAddress));
            int column = rc == 0 ? 0 : rc > 0 ? POSITIVE : Math.min(-rc, POSITIVE - 1);
            nanos[k][column] += System.nanoTime() - t0;
            counts[k][column]++;
            if (c.after != null) {
                c.after.settle(c, rc);
            }

            String wrong;
            if (spec.unknown()) {
                wrong = rc == -ENOTTY ? null : "an unknown request must give ENOTTY";
            } else if (!IoctlTable.offered(spec, features)) {
                wrong = rc == -ENOTTY ? null : "the module does not report the feature of this ioctl: want ENOTTY";
            } else if (argBad) {
                wrong = rc == -EFAULT ? null : "a bad argument pointer must give EFAULT";
            } else if (rc > 0) {
                wrong = "positive result";
            } else if (rc < 0 && !spec.errnos().contains(-rc)) {
                wrong = "errno not allowed by the header for this ioctl " + names(spec.errnos());
            } else if (c.exact != 0 && rc != -c.exact) {
                wrong = "want " + Errno.name(c.exact);
            } else if (rc == 0 && c.mustFail != null) {
                wrong = "succeeded although " + c.mustFail;
            } else {
                wrong = rc == 0 ? spec.check().verify(c, c.placed) : null;
            }
            if (wrong != null && violationCount.incrementAndGet() <= MAX_REPORTED) {
                violations.add(String.format("thread %d call %d: %s request %#x, argument %s at %#x, buffer %s"
                        + " at %#x (%d bytes accessible), struct sent %s -> %s: %s", index, i, spec.name(),
                        c.request, c.argKind, c.argAddress, c.bufferKind, c.buffer, c.bufferValid,
                        HexFormat.of().formatHex(sent, 0, (int) size), result(rc), wrong));
            }
        }

        /**
         * Places the structure built at the argument region's base: there,
         * right before the no-access page, cut short by it, or not at all (a
         * bad address). Returns whether the pointer is bad.
         */
        private boolean place(Call c, long size) {
            Native.Region r = c.argRegion;
            int pick = rnd.nextInt(100);
            if (pick < 45) {
                c.argKind = "start";
                c.argAddress = r.base();
                c.placed = c.scratch;
                return false;
            }
            if (pick < 90 || size == 0) {
                c.argKind = "fit";
                c.argAddress = r.end() - size;
                c.placed = r.at(c.argAddress, size);
                MemorySegment.copy(c.scratch, 0, c.placed, 0, size);
                return false;
            }
            if (pick < 95) {
                c.argKind = "truncated";
                c.argAddress = r.end() - size + 1 + (size > 1 ? rnd.nextLong(size - 1) : 0);
                MemorySegment.copy(c.scratch, 0, r.at(c.argAddress, r.end() - c.argAddress), 0,
                        r.end() - c.argAddress);
                return true;
            }
            if (pick < 97) {
                c.argKind = "no-access page";
                c.argAddress = r.end();
                return true;
            }
            c.argAddress = Call.BAD_ADDRESSES[rnd.nextInt(Call.BAD_ADDRESSES.length)];
            c.argKind = "bad address";
            return true;
        }
    }

    private static String result(int rc) {
        return rc == 0 ? "0" : rc > 0 ? "result " + rc : Errno.name(-rc);
    }

    private static String names(Set<Integer> errnos) {
        List<String> n = new ArrayList<>();
        for (int e : new TreeSet<>(errnos)) {
            n.add(Errno.name(e));
        }
        return n.toString();
    }

    /**
     * Every ioctl of the header (parsed from the header itself) has exactly
     * one entry, with the header's argument structure; no entry names an
     * ioctl the header lacks.
     */
    @Test
    @Order(1)
    void everyIoctlOfTheHeaderIsInTheTable() {
        Set<String> header = new TreeSet<>(UapiHeader.IOCTLS.keySet());
        Set<String> fuzzed = new TreeSet<>();
        for (IoctlSpec spec : table) {
            if (spec.unknown()) {
                continue;
            }
            assertTrue(fuzzed.add(spec.name()), "two entries for " + spec.name());
            UapiHeader.Ioctl ioctl = UapiHeader.IOCTLS.get(spec.name());
            if (ioctl != null) {
                assertEquals(ioctl.layout(), spec.layout(), spec.name() + ": the entry's layout is not struct "
                        + ioctl.struct() + " of the header");
            }
        }
        assertFalse(header.isEmpty(), "no ioctl found in " + UapiHeader.RESOURCE);
        Set<String> missing = new TreeSet<>(header);
        missing.removeAll(fuzzed);
        Set<String> stale = new TreeSet<>(fuzzed);
        stale.removeAll(header);
        assertTrue(missing.isEmpty() && stale.isEmpty(), "IoctlTable.ALL vs the header: no entry for "
                + missing + " (add one with its generators and errnos); entries the header does not define: "
                + stale);
        System.out.println("[fuzz] " + header.size() + " ioctls in the header, each with its entry");
    }

    @Test
    @Order(2)
    @Timeout(value = 12, unit = TimeUnit.HOURS) // the VM's own timeout is the real limit
    void ioctlsWithRandomAndBoundaryInputFromManyThreads() throws Exception {
        long calls = envLong("BLKSNAP_FUZZ_CALLS", 20000);
        long minutes = envLong("BLKSNAP_FUZZ_MINUTES", 0);
        int threads = (int) envLong("BLKSNAP_FUZZ_THREADS", 16);
        long seed = envLong("BLKSNAP_FUZZ_SEED", new SplittableRandom().nextLong() & Long.MAX_VALUE);
        assumeTrue(calls > 0, "BLKSNAP_FUZZ_CALLS=0: fuzzing skipped");
        String lane = System.getenv().getOrDefault("BLKSNAP_LANE", "LANE");
        System.out.println("[seed] IoctlFuzzTest: seed " + seed + ", " + calls + " calls, " + threads
                + " threads; replay with: " + (threads != 16 ? "BLKSNAP_FUZZ_THREADS=" + threads + " " : "")
                + "tests/run-vm-suite --lanes " + lane + " --fuzz-calls " + calls + " --fuzz-seed " + seed);

        ensureModuleLoaded();
        try (BlksnapControl ctl = BlksnapControl.open()) {
            features = ctl.version().features();
            for (DeviceId left : ctl.trackers()) {
                System.out.println("[fuzz] detaching " + left + ", left attached by an earlier test");
                ctl.detach(left);
            }
        }
        Native.runOk("modprobe", "-d", env("BLKSNAP_LANE_ROOT"), "loop");
        int dmesgBefore = dmesg().size();

        List<Path> disks = new ArrayList<>();
        for (String d : env("BLKSNAP_DISKS").trim().split("\\s+")) {
            disks.add(Path.of(d));
        }
        SplittableRandom root = new SplittableRandom(seed);
        List<Worker> workers = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            workers.add(new Worker(i, calls / threads + (i == 0 ? calls % threads : 0), root.split()));
        }
        SplittableRandom chaosRnd = root.split();
        SplittableRandom writeRnd = root.split();
        devices = new Devices(disks, 3, Path.of("/tmp/blksnap-fuzz"));
        snapshots = new Snapshots(Path.of("/tmp/blksnap-fuzz"), calls);
        System.out.println("[fuzz] targets: " + List.of(devices.targets()));

        List<Thread> running = new ArrayList<>();
        for (Worker w : workers) {
            running.add(Thread.ofPlatform().name("fuzz-" + w.index).start(w));
        }
        AtomicBoolean fuzzing = new AtomicBoolean(true);
        Thread chaos = Thread.ofPlatform().name("fuzz-hotplug").start(() -> {
            try {
                while (fuzzing.get()) {
                    devices.chaos(chaosRnd);
                    Thread.sleep(20 + chaosRnd.nextInt(200));
                }
            } catch (Throwable t) {
                crashes.add(t);
                stop.set(true);
            }
        });
        Thread writer = Thread.ofPlatform().name("fuzz-writer").start(() -> {
            ByteBuffer page = ByteBuffer.allocateDirect(4096);
            try {
                while (fuzzing.get()) {
                    devices.write(writeRnd, page);
                    snapshots.touchImage(writeRnd, page);
                    Thread.sleep(1 + writeRnd.nextInt(5));
                }
            } catch (Throwable t) {
                crashes.add(t);
                stop.set(true);
            }
        });

        long start = System.nanoTime();
        long lastPrint = start;
        for (Thread t : running) {
            while (!t.join(Duration.ofSeconds(5))) {
                if (minutes > 0 && !timeUp.get() && System.nanoTime() - start > minutes * 60_000_000_000L) {
                    timeUp.set(true);
                    System.out.printf("[fuzz] the time budget (BLKSNAP_FUZZ_MINUTES=%d) is spent after %d of %d"
                            + " calls: the workers stop%n", minutes, done.get(), calls);
                }
                if (System.nanoTime() - lastPrint > 30_000_000_000L) {
                    lastPrint = System.nanoTime();
                    System.out.printf("[fuzz] %d of %d calls, %.0f calls/s, %d unplugs, %d resizes, %d writes%n",
                            done.get(), calls, done.get() / ((lastPrint - start) / 1e9), devices.unplugs.get(),
                            devices.resizes.get(), devices.writes.get());
                }
            }
        }
        double secs = (System.nanoTime() - start) / 1e9;
        fuzzing.set(false);
        chaos.join();
        writer.join();

        printTable(workers, secs);
        System.out.printf("[fuzz] hot-plug: %d unplugs (%d busy retries), %d resizes; %d writes (%d failed"
                + " on a vanished device)%n", devices.unplugs.get(), devices.busy.get(), devices.resizes.get(),
                devices.writes.get(), devices.writeErrors.get());

        System.out.println("[fuzz] " + snapshots.summary());
        System.out.printf("[fuzz] snapshot calls that succeeded: %d creates, %d adds, %d takes, %d destroys,"
                + " %d infos, %d lists, %d events%n", succeeded(workers, "SNAPSHOT_CREATE"),
                succeeded(workers, "SNAPSHOT_ADD"), succeeded(workers, "SNAPSHOT_TAKE"),
                succeeded(workers, "SNAPSHOT_DESTROY"), succeeded(workers, "SNAPSHOT_INFO"),
                succeeded(workers, "SNAPSHOT_LIST"), succeeded(workers, "SNAPSHOT_WAIT_EVENT"));

        // The consistency check: the snapshots left are exactly the run's live ones (the workers' control
        // files are closed: only KEEP ones), they destroy; everything detaches, the module unloads.
        Set<Long> expected = snapshots.live();
        Set<Long> listed = new TreeSet<>();
        if ((features & Uapi.FEATURE_SNAPSHOT) != 0) {
            for (long id : listSnapshots()) {
                listed.add(id);
                destroySnapshot(id);
            }
            assertEquals(List.of(), listSnapshots(), "snapshots left after destroying every one");
        }
        snapshots.close();
        assertEquals(expected, listed, "the snapshots left after the run are not the ones the fuzzer kept alive");
        assertEquals(List.of(), snapshots.imageWritesAccepted, "writes to a read-only snapshot image succeeded");
        assertEquals(List.of(), snapshots.imageWritesWrong, "writes to writable snapshot images");
        try (BlksnapControl ctl = BlksnapControl.open()) {
            List<DeviceId> left = ctl.trackers();
            System.out.println("[fuzz] trackers after the run: " + left);
            for (DeviceId id : left) {
                try {
                    ctl.detach(id);
                } catch (NotTrackedException gone) {
                    // unplugged meanwhile
                }
            }
            assertEquals(List.of(), ctl.trackers(), "trackers left after detaching every one");
            devices.close();
            assertEquals(List.of(), ctl.trackers(), "trackers after the loop devices went away");
        }
        Native.Result rm = Native.run("rmmod", "blksnap");
        assertEquals(0, rm.exit(), () -> "rmmod after the fuzzing failed: " + rm + "; seed " + seed);
        assertFalse(Files.isDirectory(Path.of("/sys/module/blksnap")), "/sys/module/blksnap after rmmod");
        ensureModuleLoaded();

        List<String> kernel = new ArrayList<>();
        List<String> log = dmesg();
        for (String line : log.subList(Math.min(dmesgBefore, log.size()), log.size())) {
            if (KERNEL_REPORT.matcher(line).find()) {
                kernel.add(line);
            }
        }
        StringBuilder why = new StringBuilder();
        for (Throwable t : crashes) {
            t.printStackTrace(System.out);
            why.append("a fuzzing thread died: ").append(t).append('\n');
        }
        if (violationCount.get() > 0) {
            why.append(violationCount.get()).append(" calls broke the contract (first ").append(violations.size())
                    .append("):\n");
            violations.forEach(v -> why.append("  ").append(v).append('\n'));
        }
        if (!kernel.isEmpty()) {
            why.append("the kernel reported during the run:\n");
            kernel.stream().limit(40).forEach(l -> why.append("  ").append(l).append('\n'));
        }
        if (!why.isEmpty()) {
            fail(why + "replay: tests/run-vm-suite --lanes " + lane + " --fuzz-calls " + calls + " --fuzz-seed "
                    + seed);
        }
        assertTrue(done.get() >= calls || timeUp.get(), "only " + done.get() + " of " + calls + " calls ran");
    }

    /** Calls of the ioctl {@code name} that returned 0, over all workers. */
    private long succeeded(List<Worker> workers, String name) {
        int k = IoctlTable.names().indexOf(name);
        return workers.stream().mapToLong(w -> w.counts[k][0]).sum();
    }

    /** The identifiers of every snapshot of the module (SNAPSHOT_LIST). */
    private static List<Long> listSnapshots() {
        int fd = RawIoctl.openControl(CONTROL);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ids = a.allocate(8L * Uapi.SNAPSHOT_LIST_MAX, 8);
            MemorySegment list = a.allocate(Layouts.SNAPSHOT_LIST);
            list.set(JAVA_LONG_UNALIGNED, Layouts.SNAPSHOT_LIST.byteOffset(groupElement("ids")), ids.address());
            list.set(JAVA_INT_UNALIGNED, Layouts.SNAPSHOT_LIST.byteOffset(groupElement("capacity")),
                    Uapi.SNAPSHOT_LIST_MAX);
            assertEquals(0, RawIoctl.ioctl(fd, RawIoctl.SNAPSHOT_LIST, list), "SNAPSHOT_LIST");
            int n = list.get(JAVA_INT_UNALIGNED, Layouts.SNAPSHOT_LIST.byteOffset(groupElement("count")));
            List<Long> out = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                out.add(ids.getAtIndex(JAVA_LONG_UNALIGNED, i));
            }
            return out;
        } finally {
            RawIoctl.close(fd);
        }
    }

    private static void destroySnapshot(long id) {
        int fd = RawIoctl.openControl(CONTROL);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment d = a.allocate(Layouts.SNAPSHOT_DESTROY);
            d.set(JAVA_LONG_UNALIGNED, Layouts.SNAPSHOT_DESTROY.byteOffset(groupElement("id")), id);
            assertEquals(0, RawIoctl.ioctl(fd, RawIoctl.SNAPSHOT_DESTROY, d), "SNAPSHOT_DESTROY " + id);
        } finally {
            RawIoctl.close(fd);
        }
    }

    private void printTable(List<Worker> workers, double secs) {
        long[][] all = new long[table.size()][POSITIVE + 1];
        long[][] nanos = new long[table.size()][POSITIVE + 1];
        for (Worker w : workers) {
            for (int k = 0; k < all.length; k++) {
                for (int e = 0; e <= POSITIVE; e++) {
                    all[k][e] += w.counts[k][e];
                    nanos[k][e] += w.nanos[k][e];
                }
            }
        }
        Set<Integer> columns = new TreeSet<>();
        int outcomes = 0;
        for (long[] row : all) {
            for (int e = 0; e <= POSITIVE; e++) {
                if (row[e] > 0) {
                    columns.add(e);
                    outcomes++;
                }
            }
        }
        long[][] micros = new long[all.length][POSITIVE + 1];
        for (int k = 0; k < all.length; k++) {
            for (int e : columns) {
                micros[k][e] = all[k][e] == 0 ? 0 : nanos[k][e] / all[k][e] / 1000;
            }
        }
        System.out.print(table("calls by ioctl and result", all, columns, true)
                + table("mean time in the call, us", micros, columns, false));
        System.out.printf("[fuzz] %d calls in %.1f s, %.0f calls/s, %d distinct (ioctl, result) outcomes,"
                + " %d contract violations%n", done.get(), secs, done.get() / secs, outcomes, violationCount.get());
    }

    private String table(String title, long[][] cells, Set<Integer> columns, boolean total) {
        StringBuilder sb = new StringBuilder(String.format("[fuzz] %s%n[fuzz] %-18s", title, "ioctl \\ result"));
        for (int e : columns) {
            sb.append(String.format("%10s", e == 0 ? "0" : e == POSITIVE ? ">0" : Errno.name(e)));
        }
        sb.append(total ? String.format("%10s%n", "total") : "\n");
        for (int k = 0; k < cells.length; k++) {
            sb.append(String.format("[fuzz] %-18s", table.get(k).name()));
            long sum = 0;
            for (int e : columns) {
                sb.append(String.format("%10d", cells[k][e]));
                sum += cells[k][e];
            }
            sb.append(total ? String.format("%10d%n", sum) : "\n");
        }
        return sb.toString();
    }

    private static String env(String name) {
        String v = System.getenv(name);
        if (v == null || v.isBlank()) {
            throw new IllegalStateException(name + " is not set: the fuzzer runs inside the VM bench"
                    + " (tests/run-vm-suite), as root");
        }
        return v;
    }

    private static void ensureModuleLoaded() throws InterruptedException {
        if (!Files.isDirectory(Path.of("/sys/module/blksnap"))) {
            Native.runOk("insmod", env("BLKSNAP_KO"));
        }
        for (int i = 0; i < 200 && !Files.exists(CONTROL); i++) {
            Thread.sleep(50);
        }
        assertTrue(Files.exists(CONTROL), CONTROL + " did not appear");
    }

    private static List<String> dmesg() {
        return Native.runOk("dmesg").lines().toList();
    }
}
