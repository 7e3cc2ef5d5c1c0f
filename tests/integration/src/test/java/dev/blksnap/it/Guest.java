// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * What the VM bench gives a test: the module file, the scratch disks, the
 * lane's module tree, and a few shell tools. Every helper fails loudly; a
 * missing bench variable means the suite runs outside the VM.
 */
final class Guest {
    static final Path CONTROL = Path.of("/dev/blksnap-control");

    private Guest() {
    }

    static String env(String name) {
        String v = System.getenv(name);
        if (v == null || v.isBlank()) {
            throw new IllegalStateException(name + " is not set: these tests run inside the VM bench"
                    + " (tests/run-vm-suite), as root, with the blksnap module at hand");
        }
        return v;
    }

    /** Whether this is the debug-kernel lane (KASAN, lockdep, kmemleak: several times slower). */
    static boolean debugLane() {
        return "debug".equals(System.getenv("BLKSNAP_LANE"));
    }

    static Path moduleFile() {
        return Path.of(env("BLKSNAP_KO"));
    }

    /** The scratch disks, /dev/vda first. */
    static List<Path> disks() {
        return Arrays.stream(env("BLKSNAP_DISKS").trim().split("\\s+")).map(Path::of).toList();
    }

    static Path disk(int index) {
        List<Path> d = disks();
        if (index >= d.size()) {
            throw new IllegalStateException("the suite needs " + (index + 1) + " scratch disks, the bench gave "
                    + d);
        }
        return d.get(index);
    }

    static boolean moduleLoaded() {
        return Files.isDirectory(Path.of("/sys/module/blksnap"));
    }

    /**
     * Parameters the suite loads the module with: 4 KiB tracking blocks by
     * default, so that the exactness tests resolve single pages (the
     * module's default, 64 KiB, would hide off-by-one-page errors). A test
     * that loads the module otherwise (the unload test loads it with no
     * parameters, to check the default geometry) loads it with these again
     * when it is done, so every test runs with them whatever ran before.
     * Override with BLKSNAP_IT_INSMOD_ARGS.
     */
    static List<String> insmodArgs() {
        String v = System.getenv("BLKSNAP_IT_INSMOD_ARGS");
        String args = v == null ? "tracking_block_minimum_shift=12" : v.trim();
        return args.isEmpty() ? List.of() : List.of(args.split("\\s+"));
    }

    /**
     * The parameters of the last load made through {@link #loadModule},
     * and which load that was: the inode of /sys/module/blksnap, new on
     * every load. What the suite asked for is what the module must do.
     */
    private record Load(List<String> args, Object sysfsInode) {
    }

    private static volatile Load lastLoad;

    /** Loads the module when it is not loaded and waits for its control device. */
    static void ensureModuleLoaded() {
        if (!moduleLoaded()) {
            loadModule(insmodArgs());
        }
        waitUntil("the control device " + CONTROL + " to appear", Duration.ofSeconds(10),
                () -> Files.exists(CONTROL));
    }

    /** insmod with these parameters (the module must not be loaded), then waits for the control device. */
    static void loadModule(List<String> args) {
        List<String> cmd = list("insmod", moduleFile().toString());
        cmd.addAll(args);
        System.out.println("[module] " + String.join(" ", cmd));
        Result r = run(cmd, Map.of());
        if (r.exit() != 0) {
            throw new IllegalStateException("cannot load the module: " + r.describe(cmd));
        }
        noteLoaded(args);
        waitUntil("the control device " + CONTROL + " to appear", Duration.ofSeconds(10),
                () -> Files.exists(CONTROL));
    }

    /** Unloads the module if it is loaded and loads it with {@code args}. */
    static void reloadModule(List<String> args) {
        if (moduleLoaded()) {
            runOk("rmmod", "blksnap");
        }
        loadModule(args);
    }

    /** Records the parameters of a load made by other means (a test that runs insmod itself). */
    static void noteLoaded(List<String> args) {
        lastLoad = new Load(List.copyOf(args), moduleInode());
    }

    private static Object moduleInode() {
        try {
            return Files.getAttribute(Path.of("/sys/module/blksnap"), "unix:ino");
        } catch (IOException e) {
            throw new UncheckedIOException("the module is not loaded", e);
        }
    }

    /**
     * The parameters the loaded module was asked for. For a module loaded
     * another way (a plain insmod in a test), the values it reports in
     * /sys/module/blksnap/parameters.
     */
    static List<String> loadedWith() {
        Load load = lastLoad;
        if (load != null && load.sysfsInode().equals(moduleInode())) {
            return load.args();
        }
        return reportedParameters();
    }

    /**
     * The geometry parameters as the loaded module reports them in
     * /sys/module/blksnap/parameters: the values it was given, or its
     * defaults.
     */
    static List<String> reportedParameters() {
        List<String> found = new ArrayList<>();
        for (String p : List.of(MIN_SHIFT, MAX_SHIFT, MAX_COUNT)) {
            found.add(p + "=" + sysfsLong(Path.of("/sys/module/blksnap/parameters", p)));
        }
        return found;
    }

    private static final String MIN_SHIFT = "tracking_block_minimum_shift";
    private static final String MAX_SHIFT = "tracking_block_maximum_shift";
    private static final String MAX_COUNT = "tracking_block_maximum_count";

    /**
     * The tracking block size the module must give a device of
     * {@code sectors}, computed from the parameters the suite asked for
     * with the rule of module/README.md ("Memory"): the smallest power of
     * two of at least 2^minimum_shift whose block count stays within
     * maximum_count, up to 2^maximum_shift; parameters clamped to 12..30
     * and 4096..2^30. Never read back from the module.
     */
    static int expectedBlockSize(long sectors) {
        return expectedBlockSize(sectors, loadedWith());
    }

    /**
     * The tracking block size for a device of {@code sectors} by the rule
     * of module/README.md, for a module loaded with {@code args} (the
     * README's defaults for the parameters they leave out).
     */
    static int expectedBlockSize(long sectors, List<String> args) {
        long minShift = 16;
        long maxShift = 30;
        long maxCount = 16L << 20;
        for (String a : args) {
            String[] kv = a.split("=", 2);
            switch (kv[0]) {
                case MIN_SHIFT -> minShift = Long.parseLong(kv[1]);
                case MAX_SHIFT -> maxShift = Long.parseLong(kv[1]);
                case MAX_COUNT -> maxCount = Long.parseLong(kv[1]);
                default -> { }
            }
        }
        minShift = Math.clamp(minShift, 12, 30);
        maxShift = Math.clamp(maxShift, minShift, 30);
        maxCount = Math.clamp(maxCount, 4096, 1L << 30);
        long shift = minShift;
        while (shift < maxShift && (sectors * 512 + (1L << shift) - 1) >> shift > maxCount) {
            shift++;
        }
        return 1 << shift;
    }

    static void modprobe(String module) {
        runOk("modprobe", "-d", env("BLKSNAP_LANE_ROOT"), module);
    }

    record Result(int exit, String stdout, String stderr) {
        String describe(List<String> cmd) {
            return String.join(" ", cmd) + " -> exit " + exit + "\nstdout: " + stdout + "\nstderr: " + stderr;
        }
    }

    static Result run(List<String> cmd, Map<String, String> extraEnv) {
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().putAll(extraEnv);
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        try {
            Process p = pb.start();
            // Small outputs only: read both streams after exit would risk a
            // full pipe, so drain stderr on a virtual thread.
            byte[][] errBytes = new byte[1][];
            Thread err = Thread.ofVirtual().start(() -> {
                try {
                    errBytes[0] = p.getErrorStream().readAllBytes();
                } catch (IOException e) {
                    errBytes[0] = ("<stderr unreadable: " + e + ">").getBytes(StandardCharsets.UTF_8);
                }
            });
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("timed out: " + cmd);
            }
            err.join();
            return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8),
                    new String(errBytes[0], StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + cmd, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + cmd, e);
        }
    }

    static Result run(String... cmd) {
        return run(List.of(cmd), Map.of());
    }

    static String runOk(String... cmd) {
        Result r = run(cmd);
        if (r.exit() != 0) {
            throw new IllegalStateException("command failed: " + r.describe(List.of(cmd)));
        }
        return r.stdout();
    }

    /**
     * Polls {@code cond} until it holds, failing after {@code limit}. The
     * pause between polls starts at 1 ms and doubles up to 50 ms: most
     * conditions hold within a few milliseconds, and a fixed 50 ms pause
     * made loops of many short waits (NotInTheWayTest's 400 re-reads) wait
     * mostly for the clock.
     */
    static void waitUntil(String what, Duration limit, BooleanSupplier cond) {
        long end = System.nanoTime() + limit.toNanos();
        long pauseMs = 1;
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new AssertionError("gave up after " + limit.toSeconds() + " s waiting for " + what);
            }
            try {
                Thread.sleep(pauseMs);
                pauseMs = Math.min(50, pauseMs * 2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what, e);
            }
        }
    }

    /** The kernel name of a block device node, e.g. "vdb1" for /dev/vdb1. */
    static String kernelName(Path dev) {
        try {
            return dev.toRealPath().getFileName().toString();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static long sysfsLong(Path file) {
        try {
            return Long.parseLong(Files.readString(file).trim());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Size of a block device in 512-byte sectors, as the kernel reports it. */
    static long sizeSectors(Path dev) {
        return sysfsLong(Path.of("/sys/class/block", kernelName(dev), "size"));
    }

    /** Write requests a whole disk has completed (field 5 of /sys/block/X/stat). */
    static long writeRequests(Path disk) {
        try {
            String[] f = Files.readString(Path.of("/sys/block", kernelName(disk), "stat")).trim().split("\\s+");
            return Long.parseLong(f[4]);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Waits until a whole disk has completed at least {@code atLeast} write
     * requests since {@code before} (a count from {@link #writeRequests}),
     * and returns how many. A request's bios complete, and wake their
     * writer, before the request is counted: the count can lag a moment.
     */
    static long awaitWriteRequests(Path disk, long before, long atLeast) {
        try {
            waitUntil(atLeast + " write requests on " + disk, Duration.ofSeconds(5),
                    () -> writeRequests(disk) - before >= atLeast);
        } catch (AssertionError tooFew) {
            // the caller's assertion says what was wanted and what came
        }
        return writeRequests(disk) - before;
    }

    /** Sets queue/max_sectors_kb of a whole disk; returns the value it had. */
    static int setMaxSectorsKb(Path disk, int kb) {
        Path p = Path.of("/sys/block", kernelName(disk), "queue/max_sectors_kb");
        try {
            int old = (int) sysfsLong(p);
            Files.writeString(p, Integer.toString(kb));
            return old;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Device node of partition {@code n} of {@code disk} (vdb → vdb1, nvme0n1 → nvme0n1p1). */
    static Path partition(Path disk, int n) {
        String name = disk.toString();
        return Path.of(Character.isDigit(name.charAt(name.length() - 1)) ? name + "p" + n : name + n);
    }

    /** Writes back dirty pages of a device and drops its page cache, so no old write lands later. */
    static void settle(Path dev) {
        runOk("blockdev", "--flushbufs", dev.toString());
    }

    static List<String> list(String... s) {
        return new ArrayList<>(List.of(s));
    }
}
