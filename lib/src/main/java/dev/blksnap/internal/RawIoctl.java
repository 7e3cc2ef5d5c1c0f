// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.internal;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;

/**
 * The native layer: {@code open(2)}, {@code close(2)} and {@code ioctl(2)}
 * through the FFM API, and the blksnap request numbers computed from the
 * layouts with the {@code _IOC} encoding.
 *
 * <p>Nothing here throws on a failed system call: every method returns the
 * call's result, or {@code -errno} when it failed. {@code dev.blksnap}
 * turns those into exceptions; tests use this class directly to issue raw or
 * deliberately malformed calls.
 */
public final class RawIoctl {
	/** {@code BLKSNAP_IOCTL_VERSION}. */
	public static final long VERSION = Ioc.ior(Uapi.IOCTL_MAGIC, Uapi.NR_VERSION, Layouts.VERSION);
	/** {@code BLKSNAP_IOCTL_TRACKER_ATTACH}. */
	public static final long TRACKER_ATTACH = Ioc.iow(Uapi.IOCTL_MAGIC, Uapi.NR_TRACKER_ATTACH,
			Layouts.TRACKER_ATTACH);
	/** {@code BLKSNAP_IOCTL_TRACKER_DETACH}. */
	public static final long TRACKER_DETACH = Ioc.iow(Uapi.IOCTL_MAGIC, Uapi.NR_TRACKER_DETACH, Layouts.BDEV);
	/** {@code BLKSNAP_IOCTL_TRACKER_LIST}. */
	public static final long TRACKER_LIST = Ioc.iowr(Uapi.IOCTL_MAGIC, Uapi.NR_TRACKER_LIST,
			Layouts.TRACKER_LIST);
	/** {@code BLKSNAP_IOCTL_CBT_INFO}. */
	public static final long CBT_INFO = Ioc.iowr(Uapi.IOCTL_MAGIC, Uapi.NR_CBT_INFO, Layouts.CBT_INFO);
	/** {@code BLKSNAP_IOCTL_CBT_READ}. */
	public static final long CBT_READ = Ioc.iowr(Uapi.IOCTL_MAGIC, Uapi.NR_CBT_READ, Layouts.CBT_READ);
	/** {@code BLKSNAP_IOCTL_CBT_READ_HOLES}: the hole bits, with the structure of CBT_READ. */
	public static final long CBT_READ_HOLES = Ioc.iowr(Uapi.IOCTL_MAGIC, Uapi.NR_CBT_READ_HOLES,
			Layouts.CBT_READ);
	/** {@code BLKSNAP_IOCTL_CBT_MARK_DIRTY}. */
	public static final long CBT_MARK_DIRTY = Ioc.iow(Uapi.IOCTL_MAGIC, Uapi.NR_CBT_MARK_DIRTY,
			Layouts.CBT_MARK_DIRTY);
	/** {@code BLKSNAP_IOCTL_CBT_CHECKPOINT}. */
	public static final long CBT_CHECKPOINT = Ioc.iowr(Uapi.IOCTL_MAGIC, Uapi.NR_CBT_CHECKPOINT,
			Layouts.CBT_CHECKPOINT);
	/** {@code BLKSNAP_IOCTL_SNAPSHOT_CREATE}. */
	public static final long SNAPSHOT_CREATE = Ioc.iowr(Uapi.IOCTL_MAGIC, Uapi.NR_SNAPSHOT_CREATE,
			Layouts.SNAPSHOT_CREATE);
	/** {@code BLKSNAP_IOCTL_SNAPSHOT_DESTROY}. */
	public static final long SNAPSHOT_DESTROY = Ioc.iow(Uapi.IOCTL_MAGIC, Uapi.NR_SNAPSHOT_DESTROY,
			Layouts.SNAPSHOT_DESTROY);
	/** {@code BLKSNAP_IOCTL_SNAPSHOT_ADD}. */
	public static final long SNAPSHOT_ADD = Ioc.iow(Uapi.IOCTL_MAGIC, Uapi.NR_SNAPSHOT_ADD,
			Layouts.SNAPSHOT_ADD);
	/** {@code BLKSNAP_IOCTL_SNAPSHOT_TAKE}. */
	public static final long SNAPSHOT_TAKE = Ioc.iowr(Uapi.IOCTL_MAGIC, Uapi.NR_SNAPSHOT_TAKE,
			Layouts.SNAPSHOT_TAKE);
	/** {@code BLKSNAP_IOCTL_SNAPSHOT_LIST}. */
	public static final long SNAPSHOT_LIST = Ioc.iowr(Uapi.IOCTL_MAGIC, Uapi.NR_SNAPSHOT_LIST,
			Layouts.SNAPSHOT_LIST);
	/** {@code BLKSNAP_IOCTL_SNAPSHOT_INFO}. */
	public static final long SNAPSHOT_INFO = Ioc.iowr(Uapi.IOCTL_MAGIC, Uapi.NR_SNAPSHOT_INFO,
			Layouts.SNAPSHOT_INFO);
	/** {@code BLKSNAP_IOCTL_SNAPSHOT_WAIT_EVENT}. */
	public static final long SNAPSHOT_WAIT_EVENT = Ioc.iowr(Uapi.IOCTL_MAGIC, Uapi.NR_SNAPSHOT_WAIT_EVENT,
			Layouts.SNAPSHOT_EVENT);
	/** {@code BLKSNAP_IOCTL_SNAPSHOT_ADD_STORAGE}. */
	public static final long SNAPSHOT_ADD_STORAGE = Ioc.iow(Uapi.IOCTL_MAGIC, Uapi.NR_SNAPSHOT_ADD_STORAGE,
			Layouts.SNAPSHOT_ADD_STORAGE);

	/** {@code O_RDONLY} (asm-generic fcntl). */
	public static final int O_RDONLY = 0;
	/** {@code O_RDWR} (asm-generic fcntl). */
	public static final int O_RDWR = 02;
	/** {@code O_CLOEXEC} (asm-generic fcntl): no leak of the descriptor into children. */
	public static final int O_CLOEXEC = 02000000;

	private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
	private static final VarHandle ERRNO = MethodHandles.insertCoordinates(
			CAPTURE.varHandle(groupElement("errno")), 1, 0L);

	// open(2) is variadic, but without O_CREAT no mode is passed, so the
	// fixed part of the prototype is the whole call.
	private static final MethodHandle OPEN = downcall("open",
			FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
	private static final MethodHandle CLOSE = downcall("close",
			FunctionDescriptor.of(JAVA_INT, JAVA_INT));
	// int ioctl(int fd, unsigned long request, ...): the argument is
	// variadic, which matters for the calling convention.
	private static final MethodHandle IOCTL = downcall("ioctl",
			FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), Linker.Option.firstVariadicArg(2));

	private RawIoctl() {
	}

	/**
	 * Opens a control device read-write, close-on-exec.
	 *
	 * @param control the path, normally {@code /dev/blksnap-control}
	 * @return the file descriptor, or {@code -errno}
	 */
	public static int openControl(Path control) {
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment state = arena.allocate(CAPTURE);
			MemorySegment name = arena.allocateFrom(control.toString());
			int fd = (int) OPEN.invokeExact(state, name, O_RDWR | O_CLOEXEC);
			return fd >= 0 ? fd : -errno(state);
		} catch (Throwable t) {
			throw rethrow(t);
		}
	}

	/**
	 * Opens a file, directory or device, close-on-exec, for example to pass
	 * its descriptor to the module as a snapshot's storage.
	 *
	 * @param path  the file
	 * @param flags {@link #O_RDONLY} or {@link #O_RDWR} (O_CREAT is not allowed)
	 * @return the file descriptor, or {@code -errno}
	 */
	public static int open(Path path, int flags) {
		if ((flags & ~(O_RDONLY | O_RDWR)) != 0)
			throw new IllegalArgumentException("open flags 0" + Integer.toOctalString(flags) + " not allowed");
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment state = arena.allocate(CAPTURE);
			MemorySegment name = arena.allocateFrom(path.toString());
			int fd = (int) OPEN.invokeExact(state, name, flags | O_CLOEXEC);
			return fd >= 0 ? fd : -errno(state);
		} catch (Throwable t) {
			throw rethrow(t);
		}
	}

	/**
	 * Closes a file descriptor. It is never retried: on Linux the descriptor
	 * is gone even when close(2) reports an error.
	 *
	 * @param fd the descriptor
	 * @return 0, or {@code -errno}
	 */
	public static int close(int fd) {
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment state = arena.allocate(CAPTURE);
			int rc = (int) CLOSE.invokeExact(state, fd);
			return rc >= 0 ? rc : -errno(state);
		} catch (Throwable t) {
			throw rethrow(t);
		}
	}

	/**
	 * Issues one ioctl.
	 *
	 * @param fd      an open descriptor
	 * @param request the request number
	 * @param arg     the argument, or {@link MemorySegment#NULL}
	 * @return the ioctl's non-negative result, or {@code -errno}
	 */
	public static int ioctl(int fd, long request, MemorySegment arg) {
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment state = arena.allocate(CAPTURE);
			int rc = (int) IOCTL.invokeExact(state, fd, request, arg);
			return rc >= 0 ? rc : -errno(state);
		} catch (Throwable t) {
			throw rethrow(t);
		}
	}

	/**
	 * Issues one ioctl with an arbitrary number as the argument pointer, to
	 * test how the kernel treats bad user addresses.
	 *
	 * @param fd      an open descriptor
	 * @param request the request number
	 * @param address the value passed as the pointer
	 * @return the ioctl's non-negative result, or {@code -errno}
	 */
	public static int ioctlAddress(int fd, long request, long address) {
		return ioctl(fd, request, MemorySegment.ofAddress(address));
	}

	/**
	 * A handle on a C library function that also captures errno. Linking is
	 * a restricted operation: the application grants it with
	 * {@code --enable-native-access=dev.blksnap} (module path) or
	 * {@code ALL-UNNAMED} (class path).
	 */
	@SuppressWarnings("restricted")
	private static MethodHandle downcall(String name, FunctionDescriptor descriptor, Linker.Option... options) {
		Linker linker = Linker.nativeLinker();
		Linker.Option[] all = java.util.Arrays.copyOf(options, options.length + 1);
		all[options.length] = Linker.Option.captureCallState("errno");
		return linker.downcallHandle(linker.defaultLookup().findOrThrow(name), descriptor, all);
	}

	private static int errno(MemorySegment state) {
		return (int) ERRNO.get(state);
	}

	private static RuntimeException rethrow(Throwable t) {
		if (t instanceof RuntimeException e)
			throw e;
		if (t instanceof Error e)
			throw e;
		throw new IllegalStateException("native call failed", t);
	}
}
