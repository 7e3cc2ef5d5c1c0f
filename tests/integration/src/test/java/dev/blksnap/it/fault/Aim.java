// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.fault;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Which calls a fault point may fail. The kernel's filters: a range of code
 * addresses that must be on the caller's stack (within a number of
 * frames), and the task filter (only tasks whose make-it-fail is set,
 * inherited by their children).
 */
public sealed interface Aim {
    /**
     * Calls made by code in [start, end) or by what it calls, within
     * {@code depth} frames of the allocator (at most 32).
     */
    record Code(long start, long end, int depth) implements Aim {
        public Code {
            if (start >= end || depth < 1 || depth > 32) {
                throw new IllegalArgumentException("code range " + Long.toHexString(start) + "-"
                        + Long.toHexString(end) + ", depth " + depth);
            }
        }
    }

    /**
     * Only tasks that asked for it (/proc/PID/make-it-fail) and their
     * children; see {@link #marked}.
     */
    record MarkedTasks() implements Aim {
    }

    /** Every call of the point (for fail_make_request: every bio to a device whose make-it-fail is set). */
    record Everywhere() implements Aim {
    }

    /** A command line that runs {@code command} as a marked task, for {@link MarkedTasks}. */
    static List<String> marked(List<String> command) {
        List<String> cmd = new ArrayList<>(
                List.of("sh", "-c", "echo 1 >/proc/self/make-it-fail && exec \"$@\"", "sh"));
        cmd.addAll(command);
        return cmd;
    }

    /**
     * A command line that runs {@code command} with its n-th eligible call
     * failing (/proc/self/fail-nth survives exec, not fork).
     */
    static List<String> failNth(int n, List<String> command) {
        List<String> cmd = new ArrayList<>(
                List.of("sh", "-c", "echo " + n + " >/proc/self/fail-nth && exec \"$@\"", "sh"));
        cmd.addAll(command);
        return cmd;
    }

    /**
     * x86-64 modules live in [MODULES_VADDR, MODULES_END) = [0xffffffffa0000000,
     * 0xffffffffff000000) when the kernel is not relocated (the debug lane has
     * no KASLR). Used where the module is not loaded yet, e.g. its init.
     */
    Code MODULE_AREA = new Code(0xffffffffa0000000L, 0xffffffffff000000L, 32);

    /** The code of a loaded module, from /proc/modules (base address and size). */
    static Code module(String name, int depth) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/modules"))) {
                String[] f = line.split("\\s+");
                if (f[0].equals(name) && f.length >= 6) {
                    long base = Long.parseUnsignedLong(f[5].substring(2), 16);
                    if (base == 0) {
                        throw new IllegalStateException("/proc/modules hides addresses: kptr_restrict?");
                    }
                    return new Code(base, base + Long.parseLong(f[1]), depth);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        throw new IllegalStateException("module " + name + " is not loaded");
    }
}
