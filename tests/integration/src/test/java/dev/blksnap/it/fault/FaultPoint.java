// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.fault;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A fault-injection capability of the kernel (Documentation/fault-injection),
 * configured through its directory in debugfs. Present on the debug lane
 * (FAULT_INJECTION_DEBUG_FS); the stock Debian kernels have none.
 */
public enum FaultPoint {
    /** kmalloc and kmem_cache_alloc fail. */
    SLAB("failslab"),
    /** The page allocator fails (vmalloc, kvmalloc's fallback, alloc_pages). */
    PAGE_ALLOC("fail_page_alloc"),
    /** A bio submitted to a device whose make-it-fail is set completes with an I/O error. */
    MAKE_REQUEST("fail_make_request");

    private static final Path DEBUGFS = Path.of("/sys/kernel/debug");
    private final String dir;

    FaultPoint(String dir) {
        this.dir = dir;
    }

    /** Whether this kernel has the capability and debugfs shows it. */
    public boolean available() {
        return Files.isDirectory(DEBUGFS.resolve(dir));
    }

    /** Whether every capability is there: the test lane is a fault-injection kernel. */
    public static boolean allAvailable() {
        for (FaultPoint p : values()) {
            if (!p.available()) {
                return false;
            }
        }
        return true;
    }

    String read(String knob) {
        try {
            return Files.readString(DEBUGFS.resolve(dir).resolve(knob)).trim();
        } catch (IOException e) {
            throw new UncheckedIOException("read " + dir + "/" + knob, e);
        }
    }

    void write(String knob, Object value) {
        try {
            Files.writeString(DEBUGFS.resolve(dir).resolve(knob), value.toString());
        } catch (IOException e) {
            throw new UncheckedIOException("echo " + value + " >" + DEBUGFS.resolve(dir).resolve(knob), e);
        }
    }

    /** Whether this point has allocator knobs (which calls it may fail). */
    boolean allocator() {
        return this != MAKE_REQUEST;
    }

    @Override
    public String toString() {
        return dir;
    }
}
