// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * What the fuzzer needs beyond {@code RawIoctl}: memory regions that end in
 * a no-access page, and running a command.
 */
@SuppressWarnings("restricted") // plain libc calls and segments over hand-made mappings
final class Native {
    static final long PAGE = 4096;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle MMAP = LINKER.downcallHandle(
            LINKER.defaultLookup().findOrThrow("mmap"),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP = LINKER.downcallHandle(
            LINKER.defaultLookup().findOrThrow("munmap"),
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle MPROTECT = LINKER.downcallHandle(
            LINKER.defaultLookup().findOrThrow("mprotect"),
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT));

    private Native() {
    }

    /**
     * {@code size} bytes (a multiple of the page) of read-write memory
     * followed by one PROT_NONE page: whatever runs past {@link #end()}
     * faults, in the kernel as in Java, and nothing else can be mapped there
     * while the region lives. One per fuzzing thread and purpose.
     */
    record Region(long base, long size, MemorySegment segment) implements AutoCloseable {
        static Region map(long size) {
            if (size % PAGE != 0) {
                throw new IllegalArgumentException("size " + size + " is not a multiple of the page");
            }
            try {
                long a = (long) MMAP.invokeExact(0L, size + PAGE, 0 /* PROT_NONE */,
                        0x4022 /* MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE */, -1, 0L);
                if (a == -1L) {
                    throw new IllegalStateException("mmap of " + (size + PAGE) + " bytes failed");
                }
                if ((int) MPROTECT.invokeExact(a, size, 3 /* PROT_READ|PROT_WRITE */) != 0) {
                    throw new IllegalStateException("mprotect failed");
                }
                return new Region(a, size, MemorySegment.ofAddress(a).reinterpret(size));
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        /** The first byte of the no-access page. */
        long end() {
            return base + size;
        }

        /** The segment for {@code length} bytes at {@code address}, which must lie inside the region. */
        MemorySegment at(long address, long length) {
            return segment.asSlice(address - base, length);
        }

        @Override
        public void close() {
            try {
                if ((int) MUNMAP.invokeExact(base, size + PAGE) != 0) {
                    throw new IllegalStateException("munmap failed");
                }
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }
    }

    record Result(int exit, String out) {
        @Override
        public String toString() {
            return "exit " + exit + ": " + out.strip();
        }
    }

    /** Runs a command (stdout and stderr merged), two minutes at most. */
    static Result run(String... cmd) {
        ProcessBuilder pb = new ProcessBuilder(List.of(cmd)).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        try {
            Process p = pb.start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("timed out: " + String.join(" ", cmd));
            }
            return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", cmd), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + String.join(" ", cmd), e);
        }
    }

    static String runOk(String... cmd) {
        Result r = run(cmd);
        if (r.exit() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed, " + r);
        }
        return r.out();
    }
}
