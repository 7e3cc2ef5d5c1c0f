// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * What the fuzzer needs beyond {@code RawIoctl}: memory regions that end in
 * a no-access page, running a command, and plain file I/O with O_DIRECT
 * for the writes to snapshot images.
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

    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CCS = Linker.Option.captureCallState("errno");
    private static final MethodHandle OPEN = LINKER.downcallHandle(
            LINKER.defaultLookup().findOrThrow("open"),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), CCS, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle PWRITE = LINKER.downcallHandle(
            LINKER.defaultLookup().findOrThrow("pwrite"),
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), CCS);
    private static final MethodHandle PREAD = LINKER.downcallHandle(
            LINKER.defaultLookup().findOrThrow("pread"),
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), CCS);
    private static final MethodHandle FSYNC = LINKER.downcallHandle(
            LINKER.defaultLookup().findOrThrow("fsync"),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT), CCS);
    /** O_RDWR, O_DIRECT and O_CLOEXEC of x86-64. */
    static final int O_RDWR = 02;
    static final int O_DIRECT = 040000;
    private static final int O_CLOEXEC = 02000000;

    private Native() {
    }

    private static long errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    /** open(2): the descriptor or -errno. */
    static int open(Path path, int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(CAPTURE);
            int fd = (int) OPEN.invokeExact(st, a.allocateFrom(path.toString()), flags | O_CLOEXEC, 0);
            return fd < 0 ? (int) -errno(st) : fd;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** pwrite(2) of all of {@code buf}: the byte count or -errno. */
    static long pwrite(int fd, MemorySegment buf, long offset) {
        return transfer(PWRITE, fd, buf, offset);
    }

    /** pread(2) into all of {@code buf}: the byte count or -errno. */
    static long pread(int fd, MemorySegment buf, long offset) {
        return transfer(PREAD, fd, buf, offset);
    }

    private static long transfer(MethodHandle call, int fd, MemorySegment buf, long offset) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(CAPTURE);
            long n = (long) call.invokeExact(st, fd, buf, buf.byteSize(), offset);
            return n < 0 ? -errno(st) : n;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** fsync(2): 0 or -errno. */
    static int fsync(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(CAPTURE);
            int rc = (int) FSYNC.invokeExact(st, fd);
            return rc < 0 ? (int) -errno(st) : 0;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
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
