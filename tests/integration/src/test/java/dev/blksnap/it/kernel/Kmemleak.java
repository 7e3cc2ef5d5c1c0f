// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.kernel;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The kernel's leak detector, through /sys/kernel/debug/kmemleak: ask for
 * a scan, read what it suspects, forget what was read. Present only on
 * kernels built with DEBUG_KMEMLEAK (the debug lane).
 *
 * <p>kmemleak reports an object only once it is older than five seconds
 * (MSECS_MIN_AGE, fixed in mm/kmemleak.c) and unchanged since the scan
 * before: a fresh object may just be in flight from one pointer to another.
 * {@link #settledReports()} scans as often and waits as long as that takes.
 */
public final class Kmemleak {
    /** mm/kmemleak.c: objects younger than this are never reported. */
    public static final long MIN_AGE_MILLIS = 5000;
    private static final Path FILE = Path.of("/sys/kernel/debug/kmemleak");
    /**
     * A backtrace frame in blksnap.ko: named by kallsyms while it is
     * loaded, a bare address in the module area (x86-64 MODULES_VADDR,
     * no KASLR on the debug lane) once it has been unloaded.
     */
    private static final Pattern OUR_FRAME = Pattern.compile(
            "\\[blksnap]|\\] 0xffffffff[a-f][0-9a-f]{7}\\s*$", Pattern.MULTILINE);

    /** One suspected leak: its header line and the backtrace kmemleak recorded at allocation. */
    public record Report(String text) {
        /** Whether the allocation was made by blksnap.ko, directly or through a function it called. */
        public boolean ours() {
            return OUR_FRAME.matcher(text).find();
        }

        public String headline() {
            return text.lines().findFirst().orElse("");
        }
    }

    private Kmemleak() {
    }

    /** The detector, if this kernel has one. */
    public static Optional<Kmemleak> find() {
        return Files.exists(FILE) ? Optional.of(new Kmemleak()) : Optional.empty();
    }

    /** Scans memory now (several seconds under TCG: it walks every tracked object). */
    public void scan() {
        write("scan");
    }

    /** Marks every object reported so far as seen: later reads list only new suspects. */
    public void clear() {
        write("clear");
    }

    /** What the last scan suspects. */
    public List<Report> reports() {
        List<Report> out = new ArrayList<>();
        StringBuilder cur = null;
        for (String line : read()) {
            if (line.startsWith("unreferenced object")) {
                if (cur != null) {
                    out.add(new Report(cur.toString()));
                }
                cur = new StringBuilder();
            }
            if (cur != null) {
                cur.append(line).append('\n');
            }
        }
        if (cur != null) {
            out.add(new Report(cur.toString()));
        }
        return out;
    }

    /**
     * Scans until every object allocated so far could be reported, and
     * returns the suspects of blksnap.ko that one more scan confirms; then
     * clears, so the next call reports only newer leaks. Suspects of other
     * code are printed, not returned: the kernel and its drivers have their
     * own (mostly false) positives.
     *
     * <p>Two scans at least: the first records each new object's checksum,
     * and an object whose checksum changed since the last scan counts as in
     * use; the second must also start when the objects are older than
     * {@link #MIN_AGE_MILLIS}. Task stacks are not scanned: a stale copy of
     * a leaked pointer there would hide the leak until the slot is reused
     * and charge it to a later test; blksnap keeps nothing only on a stack
     * between tests.
     */
    public List<Report> settledReports() throws InterruptedException {
        long start = System.nanoTime();
        write("stack=off");
        scan();
        long aged = MIN_AGE_MILLIS + 300 - (System.nanoTime() - start) / 1_000_000;
        if (aged > 0) {
            Thread.sleep(aged);
        }
        scan();
        List<Report> first = reports();
        List<Report> ours = first.stream().filter(Report::ours).toList();
        if (!ours.isEmpty()) {
            scan();
            List<Report> again = reports();
            ours = ours.stream().filter(again::contains).toList();
        }
        for (Report r : first) {
            if (!r.ours()) {
                System.out.println("[kmemleak] not blksnap's, ignored: " + r.headline());
            }
        }
        clear();
        return ours;
    }

    private static List<String> read() {
        try {
            return Files.readAllLines(FILE);
        } catch (IOException e) {
            throw new UncheckedIOException("read " + FILE, e);
        }
    }

    private static void write(String command) {
        try {
            Files.writeString(FILE, command);
        } catch (IOException e) {
            // EBUSY/EPERM: kmemleak switched itself off (e.g. out of memory for its metadata).
            throw new UncheckedIOException("echo " + command + " >" + FILE + " failed: is kmemleak disabled?"
                    + " See dmesg", e);
        }
    }
}
