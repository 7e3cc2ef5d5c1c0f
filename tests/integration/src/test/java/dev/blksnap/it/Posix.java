// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * open/pwrite/pread/fsync/close through FFM, for the I/O FileChannel cannot
 * do on a block device: with ExtendedOpenOption.DIRECT the JDK demands the
 * alignment of the file system that holds the node (4 KiB on devtmpfs), so
 * 512-byte O_DIRECT writes at odd sectors need plain pwrite(2).
 */
@SuppressWarnings("restricted") // the point of this class: plain libc calls
final class Posix {
    static final int EIO = 5;
    static final int EAGAIN = 11;
    /** pwritev2(2): fail with EAGAIN rather than wait (REQ_NOWAIT on the bio). */
    static final int RWF_NOWAIT = 0x8;
    static final int O_RDONLY = 0;
    static final int O_WRONLY = 1;
    static final int O_RDWR = 2;
    static final int O_DSYNC = 0x1000;
    static final int O_DIRECT = 0x4000;
    static final int O_CLOEXEC = 0x80000;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(
            java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CCS = Linker.Option.captureCallState("errno");

    private static final MethodHandle OPEN = LINKER.downcallHandle(
            LINKER.defaultLookup().find("open").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), CCS, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle PWRITE = LINKER.downcallHandle(
            LINKER.defaultLookup().find("pwrite").orElseThrow(),
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), CCS);
    private static final MethodHandle PWRITEV2 = LINKER.downcallHandle(
            LINKER.defaultLookup().find("pwritev2").orElseThrow(),
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_INT), CCS);
    private static final MethodHandle PREAD = LINKER.downcallHandle(
            LINKER.defaultLookup().find("pread").orElseThrow(),
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), CCS);
    private static final MethodHandle FSYNC = LINKER.downcallHandle(
            LINKER.defaultLookup().find("fsync").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT), CCS);
    private static final MethodHandle MMAP = LINKER.downcallHandle(
            LINKER.defaultLookup().find("mmap").orElseThrow(),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP = LINKER.downcallHandle(
            LINKER.defaultLookup().find("munmap").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle MPROTECT = LINKER.downcallHandle(
            LINKER.defaultLookup().find("mprotect").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT));
    private static final MethodHandle IOCTL = LINKER.downcallHandle(
            LINKER.defaultLookup().find("ioctl").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), CCS, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle POLL = LINKER.downcallHandle(
            LINKER.defaultLookup().find("poll").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), CCS);
    static final short POLLIN = 0x1;
    private static final MethodHandle CAPGET = LINKER.downcallHandle(
            LINKER.defaultLookup().find("capget").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), CCS);
    private static final MethodHandle CAPSET = LINKER.downcallHandle(
            LINKER.defaultLookup().find("capset").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), CCS);
    static final int CAP_SYS_ADMIN = 21;
    private static final MethodHandle CLOSE = LINKER.downcallHandle(
            LINKER.defaultLookup().find("close").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT));

    private Posix() {
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    static int open(Path path, int flags) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(CAPTURE);
            int fd = (int) OPEN.invokeExact(st, a.allocateFrom(path.toString()), flags | O_CLOEXEC, 0);
            if (fd < 0) {
                throw new IOException("open " + path + ": errno " + errno(st));
            }
            return fd;
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** pwrite(2) all of {@code buf}; a short write is an error (block devices do not do them). */
    static void pwrite(int fd, MemorySegment buf, long offset) throws IOException {
        long n = pwriteRaw(fd, buf, offset);
        if (n != buf.byteSize()) {
            throw new IOException("pwrite " + buf.byteSize() + " bytes at " + offset + ": "
                    + (n < 0 ? "errno " + -n : "returned " + n));
        }
    }

    /** pwrite(2) as it is: the byte count, or -errno. */
    static long pwriteRaw(int fd, MemorySegment buf, long offset) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(CAPTURE);
            long n = (long) PWRITE.invokeExact(st, fd, buf, buf.byteSize(), offset);
            return n >= 0 ? n : -errno(st);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** pwritev2(2) of {@code buf} as one iovec with {@code flags}: the byte count, or -errno. */
    static long pwritev2Raw(int fd, MemorySegment buf, long offset, int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(CAPTURE);
            MemorySegment iov = a.allocate(16, 8); // struct iovec { void *iov_base; size_t iov_len; }
            iov.set(ADDRESS, 0, buf);
            iov.set(JAVA_LONG, 8, buf.byteSize());
            long n = (long) PWRITEV2.invokeExact(st, fd, iov, 1, offset, flags);
            return n >= 0 ? n : -errno(st);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    static void pread(int fd, MemorySegment buf, long offset) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(CAPTURE);
            long n = (long) PREAD.invokeExact(st, fd, buf, buf.byteSize(), offset);
            if (n != buf.byteSize()) {
                throw new IOException("pread " + buf.byteSize() + " bytes at " + offset + ": returned " + n
                        + (n < 0 ? ", errno " + errno(st) : ""));
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    static void fsync(int fd) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(CAPTURE);
            int r = (int) FSYNC.invokeExact(st, fd);
            if (r != 0) {
                throw new IOException("fsync: errno " + errno(st));
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** ioctl(2) with an integer (or no) argument: 0 or more, or -errno. */
    static int ioctl(int fd, long request, long arg) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(CAPTURE);
            int r = (int) IOCTL.invokeExact(st, fd, request, arg);
            return r >= 0 ? r : -errno(st);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** poll(2) of one fd for POLLIN: its revents, 0 after {@code timeoutMs}; a signal polls again. */
    static int pollIn(int fd, int timeoutMs) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(CAPTURE);
            MemorySegment p = a.allocate(8, 4); // struct pollfd {int fd; short events; short revents;}
            while (true) {
                p.set(JAVA_INT, 0, fd);
                p.set(java.lang.foreign.ValueLayout.JAVA_SHORT, 4, POLLIN);
                p.set(java.lang.foreign.ValueLayout.JAVA_SHORT, 6, (short) 0);
                int r = (int) POLL.invokeExact(st, p, 1L, timeoutMs);
                if (r >= 0) {
                    return r == 0 ? 0 : p.get(java.lang.foreign.ValueLayout.JAVA_SHORT, 6);
                }
                if (errno(st) != 4 /* EINTR */) {
                    throw new IllegalStateException("poll: errno " + errno(st));
                }
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    static void close(int fd) {
        try {
            int r = (int) CLOSE.invokeExact(fd);
            if (r != 0) {
                throw new IllegalStateException("close(" + fd + ") failed");
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Two pages: the first readable and writable, the second reserved with
     * no access (PROT_NONE), so any access to it faults and nothing else in
     * the JVM can be mapped there meanwhile. Returns the first page's
     * address; release both with {@link #unmapPages}.
     */
    static long pageBeforeHole() {
        try {
            long a = (long) MMAP.invokeExact(0L, 8192L, 0 /* PROT_NONE */,
                    0x4022 /* MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE */, -1, 0L);
            if (a == -1L) {
                throw new IllegalStateException("mmap failed");
            }
            if ((int) MPROTECT.invokeExact(a, 4096L, 3 /* PROT_READ|PROT_WRITE */) != 0) {
                throw new IllegalStateException("mprotect failed");
            }
            return a;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Makes the first page of {@link #pageBeforeHole()} read-only: reads work, writes fault. */
    static void readOnly(long address) {
        try {
            if ((int) MPROTECT.invokeExact(address, 4096L, 1 /* PROT_READ */) != 0) {
                throw new IllegalStateException("mprotect failed");
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    static void unmapPages(long address) {
        try {
            if ((int) MUNMAP.invokeExact(address, 8192L) != 0) {
                throw new IllegalStateException("munmap failed");
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Clears {@code cap} from the effective capabilities of the calling
     * thread only: Linux keeps capabilities per thread, and capset(2)
     * changes the caller's, so the JVM's other threads keep theirs. Call it
     * on a thread of its own that ends after the work without the
     * capability.
     */
    static void dropEffectiveCapability(int cap) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(CAPTURE);
            // struct __user_cap_header_struct {u32 version; int pid;}, version 3,
            // pid 0 (the caller); then two {effective, permitted, inheritable}.
            MemorySegment header = a.allocate(8, 4);
            header.set(JAVA_INT, 0, 0x20080522);
            header.set(JAVA_INT, 4, 0);
            MemorySegment data = a.allocate(24, 4);
            if ((int) CAPGET.invokeExact(st, header, data) != 0) {
                throw new IllegalStateException("capget: errno " + errno(st));
            }
            long eff = 12L * (cap / 32);
            data.set(JAVA_INT, eff, data.get(JAVA_INT, eff) & ~(1 << (cap % 32)));
            if ((int) CAPSET.invokeExact(st, header, data) != 0) {
                throw new IllegalStateException("capset: errno " + errno(st));
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** A page-aligned buffer for O_DIRECT. */
    static MemorySegment aligned(Arena arena, long size) {
        return arena.allocate(size, 4096);
    }
}
