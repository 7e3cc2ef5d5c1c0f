// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.fault;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Systematic fault injection: the calling thread's n-th call that can fail
 * (an allocation through failslab or fail_page_alloc that passes their
 * filters) fails, every earlier one succeeds (/proc/thread-self/fail-nth).
 * {@link #sweep} runs an operation with its first, second, third...
 * allocation failing until it completes without reaching the armed one, so
 * every allocation on its path has failed once.
 *
 * <p>Only code of blksnap.ko and what it calls counts (the points' stack
 * filter), so the JVM's own system calls on the thread do not use up n.
 * Must be used from one thread: the file belongs to the thread that opened
 * it.
 */
public final class FailNth implements AutoCloseable {
    private static final Pattern TIMESTAMP = Pattern.compile("^\\[[^]]*]");
    /** A reliable frame of a kernel call trace (an unreliable one starts with "? "; registers are not frames). */
    private static final Pattern FRAME = Pattern.compile("[\\w.]+\\+0x\\p{XDigit}+/0x\\p{XDigit}+( \\[\\w+])?");
    private static final Set<FaultPoint> POINTS = Set.of(FaultPoint.SLAB, FaultPoint.PAGE_ALLOC);
    private final FileChannel file;
    private final Thread owner = Thread.currentThread();

    /**
     * Opens the calling thread's fail-nth and aims both allocator points at
     * {@code aim} (their probability stays 0: only fail-nth injects).
     */
    public FailNth(Aim aim) {
        aimAt(aim);
        try {
            file = FileChannel.open(Path.of("/proc/thread-self/fail-nth"), StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new UncheckedIOException("open /proc/thread-self/fail-nth", e);
        }
    }

    /**
     * Aims the allocator points at {@code aim} with probability 0, so that
     * only fail-nth injects: for a process of its own, see
     * {@link Aim#failNth}; {@link #resetPoints} undoes it. Returns the sum
     * of their "times" counters, which every injected fault decrements.
     */
    public static long aimAt(Aim aim) {
        long times = 0;
        for (FaultPoint p : POINTS) {
            if (!p.available()) {
                throw new IllegalStateException(p + " is not in this kernel (debug lane only)");
            }
            FaultInjector.configure(p, aim);
            p.write("times", 1_000_000_000);
            times += 1_000_000_000;
        }
        return times;
    }

    /** The sum of the allocator points' "times" counters; it drops by one per injected fault. */
    public static long times() {
        long times = 0;
        for (FaultPoint p : POINTS) {
            times += Long.parseLong(p.read("times"));
        }
        return times;
    }

    /**
     * Makes the allocator points log each injected fault with its call
     * stack (verbose 2), for {@link #faultStack}; {@link #resetPoints}
     * undoes it.
     */
    public static void logFaultStacks() {
        for (FaultPoint p : POINTS) {
            p.write("verbose", 2);
        }
    }

    /**
     * The call stack of the first fault logged in {@code kernelLog}
     * (dmesg text): its reliable frames, "function+offset/size [module]"
     * one a line (no registers: they differ from process to process), or
     * null when the log shows none (the points' rate limit).
     * Two faults have the same stack exactly when the same call failed,
     * reached the same way.
     */
    public static String faultStack(String kernelLog) {
        List<String> frames = new ArrayList<>();
        boolean fault = false;
        boolean trace = false;
        for (String raw : kernelLog.lines().toList()) {
            String line = TIMESTAMP.matcher(raw).replaceFirst("").strip();
            if (!fault) {
                fault = line.startsWith("FAULT_INJECTION: forcing a failure");
            } else if (!trace) {
                trace = line.equals("Call Trace:");
            } else if (line.equals("</TASK>")) {
                return String.join("\n", frames);
            } else if (FRAME.matcher(line).matches()) {
                frames.add(line);
            }
        }
        return null;
    }

    /**
     * Spares the calls made with code between two kernel symbols on the
     * stack (the points' reject range), read from /proc/kallsyms;
     * {@link #resetPoints} undoes it. For kmemleak's own record of each
     * allocation (debug lane): made with __GFP_NOWARN and taken from a
     * reserve when it fails, so failing it tests nothing of the caller
     * and doubles a sweep.
     */
    public static void spare(String fromSymbol, String toSymbol) {
        Map<String, Long> addresses = new HashMap<>();
        try (var lines = Files.lines(Path.of("/proc/kallsyms"))) {
            lines.forEach(line -> {
                String[] f = line.split("\\s+");
                if (f.length >= 3 && (f[2].equals(fromSymbol) || f[2].equals(toSymbol))) {
                    addresses.putIfAbsent(f[2], Long.parseUnsignedLong(f[0], 16));
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException("read /proc/kallsyms", e);
        }
        Long from = addresses.get(fromSymbol);
        Long to = addresses.get(toSymbol);
        if (from == null || to == null || from == 0 || Long.compareUnsigned(from, to) >= 0) {
            throw new IllegalStateException("no code range " + fromSymbol + ".." + toSymbol + " in /proc/kallsyms: "
                    + addresses);
        }
        for (FaultPoint p : POINTS) {
            p.write("reject-start", Long.toUnsignedString(from));
            p.write("reject-end", Long.toUnsignedString(to));
        }
    }

    /** Puts the allocator points back to their boot state. */
    public static void resetPoints() {
        for (FaultPoint p : POINTS) {
            FaultInjector.reset(p);
        }
    }

    /** Fails the n-th eligible call of this thread from now on; 0 disarms. */
    public void arm(int n) {
        check();
        try {
            file.write(ByteBuffer.wrap(Integer.toString(n).getBytes(StandardCharsets.US_ASCII)), 0);
        } catch (IOException e) {
            throw new UncheckedIOException("write fail-nth", e);
        }
    }

    /** Eligible calls still to go before the fault; 0 once it was injected (or when disarmed). */
    public int remaining() {
        check();
        ByteBuffer b = ByteBuffer.allocate(16);
        try {
            file.read(b, 0);
        } catch (IOException e) {
            throw new UncheckedIOException("read fail-nth", e);
        }
        return Integer.parseInt(new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).trim());
    }

    private void check() {
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("fail-nth used from " + Thread.currentThread() + ", opened by " + owner);
        }
    }

    /** An operation under test; {@code n} is the call that fails, for messages. */
    @FunctionalInterface
    public interface Step<R> {
        R run(int n) throws Exception;
    }

    /** What the sweep expects of one run: throws when the outcome is wrong. */
    @FunctionalInterface
    public interface Verdict<R> {
        void check(int n, boolean injected, R result) throws Exception;
    }

    /**
     * Runs {@code step} with its n-th eligible call failing, for n = 1, 2,
     * 3..., checking every outcome, until a run completes without reaching
     * the n-th call (the operation has fewer calls than n).
     *
     * @param limit give up (and fail) after this many runs: an operation with
     *              more calls than that loops or allocates without bound
     * @return the number of faults injected (one per run but the last)
     */
    public <R> int sweep(String what, int limit, Step<R> step, Verdict<R> verdict) throws Exception {
        for (int n = 1; n <= limit; n++) {
            arm(n);
            R result = null;
            Exception thrown = null;
            try {
                result = step.run(n);
            } catch (Exception e) {
                thrown = e;
            }
            // Read before anything else can use up the count.
            boolean injected = remaining() == 0;
            arm(0);
            if (thrown != null) {
                throw new AssertionError(what + " with its call " + n + " failing (injected: " + injected
                        + "): " + thrown, thrown);
            }
            verdict.check(n, injected, result);
            if (!injected) {
                return n - 1;
            }
        }
        throw new AssertionError(what + ": still failing calls after " + limit + " runs");
    }

    /** Disarms and puts the allocator points back to their boot state. */
    @Override
    public void close() {
        try {
            arm(0);
            file.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            resetPoints();
        }
    }
}
