// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.fault;

import java.util.EnumMap;
import java.util.Map;
import java.util.Set;

/**
 * Random faults from some fault points, at a probability, aimed at some
 * calls ({@link Aim}), for as long as the injector is open: closing it
 * switches the points off and resets their filters. Counts what it
 * injected, so a test can say how many faults it survived.
 *
 * <pre>{@code
 * try (FaultInjector f = FaultInjector.arm(Set.of(SLAB, PAGE_ALLOC), Aim.module("blksnap", 32), 20)) {
 *     ... work under faults ...
 *     System.out.println(f.injected() + " faults injected");
 * }
 * }</pre>
 *
 * <p>One injector at a time per fault point: the knobs are global.
 * Allocations that may sleep fail too (ignore-gfp-wait off), any order.
 * Failure messages stay out of the kernel log (verbose 0): allocation
 * failures the injected ones cause are the kernel's own, logged or not.
 */
public final class FaultInjector implements AutoCloseable {
    /** "times" armed: the kernel decrements it per injected fault, so armed - left = injected. */
    private static final long BUDGET = 1_000_000_000L;
    private final Map<FaultPoint, Long> armed = new EnumMap<>(FaultPoint.class);
    private long injectedAtClose = -1;

    private FaultInjector() {
    }

    /**
     * Arms the points.
     *
     * @param points      which points
     * @param aim         which calls may fail
     * @param probability percent of the eligible calls that fail, 1..100
     */
    public static FaultInjector arm(Set<FaultPoint> points, Aim aim, int probability) {
        if (probability < 1 || probability > 100) {
            throw new IllegalArgumentException("probability " + probability + "%");
        }
        FaultInjector f = new FaultInjector();
        try {
            for (FaultPoint p : points) {
                if (!p.available()) {
                    throw new IllegalStateException(p + " is not in this kernel (debug lane only)");
                }
                configure(p, aim);
                p.write("times", BUDGET);
                f.armed.put(p, BUDGET);
                p.write("probability", probability);
            }
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
        return f;
    }

    /** Sets a point's filters for an aim, everything else to "fail any call". */
    static void configure(FaultPoint p, Aim aim) {
        p.write("probability", 0);
        p.write("verbose", 0);
        p.write("interval", 1);
        p.write("space", 0);
        if (p.allocator()) {
            p.write("ignore-gfp-wait", "N");
        }
        if (p == FaultPoint.PAGE_ALLOC) {
            p.write("ignore-gfp-highmem", "N");
            p.write("min-order", 0);
        }
        p.write("task-filter", aim instanceof Aim.MarkedTasks ? "Y" : "N");
        p.write("reject-start", 0);
        p.write("reject-end", 0);
        if (aim instanceof Aim.Code c) {
            p.write("require-start", Long.toUnsignedString(c.start()));
            p.write("require-end", Long.toUnsignedString(c.end()));
            p.write("stacktrace-depth", c.depth());
        } else {
            p.write("require-start", 0);
            p.write("require-end", Long.toUnsignedString(-1L));
            p.write("stacktrace-depth", 32);
        }
    }

    /** Puts a point back to its boot state: off, unfiltered, sparing what it spares by default. */
    static void reset(FaultPoint p) {
        configure(p, new Aim.Everywhere());
        p.write("times", 1);
        p.write("verbose", 2);
        if (p.allocator()) {
            p.write("ignore-gfp-wait", "Y");
        }
        if (p == FaultPoint.PAGE_ALLOC) {
            p.write("ignore-gfp-highmem", "Y");
            p.write("min-order", 1);
        }
    }

    /** Faults injected so far (all points together). */
    public long injected() {
        if (injectedAtClose >= 0) {
            return injectedAtClose;
        }
        long n = 0;
        for (Map.Entry<FaultPoint, Long> e : armed.entrySet()) {
            n += e.getValue() - Long.parseLong(e.getKey().read("times"));
        }
        return n;
    }

    @Override
    public void close() {
        if (injectedAtClose >= 0) {
            return;
        }
        for (FaultPoint p : armed.keySet()) {
            p.write("probability", 0);
        }
        injectedAtClose = injected();
        for (FaultPoint p : armed.keySet()) {
            reset(p);
        }
    }
}
