// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import java.io.IOException;

import dev.blksnap.internal.Errno;

/**
 * A blksnap operation failed. Every failure carries the errno the kernel
 * reported, its symbolic name and a hint for the user, and its message is
 * one line:
 * {@code tracker attach 8:16: already attached (EALREADY) — detach it first or use it as is}.
 *
 * <p>The subclasses name the failures a caller may want to handle; anything
 * else is a {@link BlksnapErrnoException}.
 */
public sealed class BlksnapException extends IOException
		permits PermissionDeniedException, ModuleNotLoadedException, NoSuchDeviceException, NotTrackedException,
		AlreadyTrackedException, InvalidRequestException, KernelOutOfMemoryException, DeviceBusyException,
		NoSuchSnapshotException, SnapshotStateException, NoSpaceException, NotSupportedException,
		BlksnapErrnoException {
	private static final long serialVersionUID = 1L;

	/** The operation, for example {@code "tracker attach 8:16"}. */
	private final String operation;
	/** The positive errno value. */
	private final int errno;
	/** What went wrong, for example {@code "already attached"}. */
	private final String problem;
	/** What the user can do about it. */
	private final String hint;

	BlksnapException(String operation, int errno, String problem, String hint) {
		super(operation + ": " + problem + " (" + Errno.name(errno) + ") — " + hint);
		this.operation = operation;
		this.errno = errno;
		this.problem = problem;
		this.hint = hint;
	}

	/**
	 * The error number, as in errno(3).
	 *
	 * @return a positive errno value
	 */
	public int errno() {
		return errno;
	}

	/**
	 * The symbolic name of {@link #errno()}.
	 *
	 * @return for example {@code "EALREADY"}
	 */
	public String errnoName() {
		return Errno.name(errno);
	}

	/**
	 * What the user can do about it.
	 *
	 * @return for example {@code "detach it first or use it as is"}
	 */
	public String hint() {
		return hint;
	}

	/**
	 * The operation that failed.
	 *
	 * @return for example {@code "tracker attach 8:16"}
	 */
	public String operation() {
		return operation;
	}

	/**
	 * What went wrong, without operation, errno name or hint.
	 *
	 * @return for example {@code "already attached"}
	 */
	public String problem() {
		return problem;
	}

	/**
	 * Maps the errno of a failed blksnap ioctl to the matching exception.
	 * ENOENT means "no tracker" here; failures to open the control device
	 * are mapped by {@link BlksnapControl#open(java.nio.file.Path)}.
	 *
	 * @param operation what was attempted, for example {@code "cbt info 8:16"}
	 * @param errno     the positive errno value
	 * @return the exception to throw
	 */
	public static BlksnapException fromErrno(String operation, int errno) {
		return switch (errno) {
			case Errno.EPERM, Errno.EACCES -> new PermissionDeniedException(operation, errno,
					"permission denied", "run as root (CAP_SYS_ADMIN is required)");
			case Errno.ENOENT -> new NotTrackedException(operation, errno,
					"no tracker on this device", "attach one first (blksnap tracker attach DEVICE)");
			case Errno.ENODEV -> new NoSuchDeviceException(operation, errno,
					"no such block device", "check the device number with lsblk; the device may be gone");
			case Errno.EALREADY -> new AlreadyTrackedException(operation, errno,
					"already attached", "detach it first or use it as is");
			case Errno.EINVAL -> new InvalidRequestException(operation, errno,
					"invalid request", "a reserved field, flag or zero length was rejected; "
							+ "library and module versions may differ");
			case Errno.ERANGE -> new InvalidRequestException(operation, errno,
					"out of range", "the offset or range runs past the end of the device or map; "
							+ "re-read the device size");
			case Errno.E2BIG -> new InvalidRequestException(operation, errno,
					"too many ranges in one call", "split the request into smaller calls");
			case Errno.EFAULT -> new InvalidRequestException(operation, errno,
					"bad user address", "a buffer passed to the kernel is invalid; this is a bug in the caller");
			case Errno.ENOMEM -> new KernelOutOfMemoryException(operation, errno,
					"kernel out of memory", "free memory or track fewer or smaller devices, then retry");
			case Errno.EBUSY -> new DeviceBusyException(operation, errno,
					"device or resource busy", "another operation holds the device; retry later");
			case Errno.EOPNOTSUPP -> new NotSupportedException(operation, errno,
					"the device can be written without bios, which blksnap cannot see",
					"DAX devices, and before Linux 6.3 brd, zram, pmem and btt, cannot be tracked");
			case Errno.ENOTTY -> new BlksnapErrnoException(operation, errno,
					"request unknown to the module", "the module and this tool do not match; "
							+ "check 'blksnap version'");
			default -> new BlksnapErrnoException(operation, errno,
					Errno.description(errno), "unexpected error from the kernel; see dmesg");
		};
	}

	/**
	 * Maps the errno of a failed snapshot ioctl, where ENOENT means "no such
	 * snapshot" and EALREADY "already taken"; errnos without a snapshot
	 * meaning are mapped as by {@link #fromErrno(String, int)}.
	 *
	 * @param operation what was attempted, for example {@code "snapshot add 3 8:16"}
	 * @param errno     the positive errno value
	 * @return the exception to throw
	 */
	public static BlksnapException fromSnapshotErrno(String operation, int errno) {
		return switch (errno) {
			case Errno.ENOENT -> new NoSuchSnapshotException(operation, errno, "no such snapshot",
					"it was destroyed, or the program that created it exited; list them with 'blksnap snapshot list'");
			case Errno.EALREADY -> new SnapshotStateException(operation, errno, "the snapshot is already taken or broken",
					"devices are added before take; create a new snapshot");
			case Errno.EBUSY -> new DeviceBusyException(operation, errno, "device or storage busy",
					"the device is already in a snapshot, or the storage device is mounted or in use");
			case Errno.ENOSPC -> new NoSpaceException(operation, errno, "no space for the difference storage",
					"use a larger storage device or a file system with more room, or a smaller limit");
			case Errno.EOPNOTSUPP -> new NotSupportedException(operation, errno, "not supported",
					"DAX, zoned and snapshot image devices cannot be snapshotted; the storage must be a block "
							+ "device, a regular file or a directory on a file system that supports it");
			case Errno.EDEADLK -> new InvalidRequestException(operation, errno,
					"the storage lies on a device in a snapshot", "put the difference storage on another device");
			case Errno.E2BIG -> new InvalidRequestException(operation, errno, "too many devices or entries",
					"a snapshot holds at most " + dev.blksnap.internal.Uapi.SNAPSHOT_MAX_DEVICES + " devices");
			case Errno.EBADF -> new InvalidRequestException(operation, errno, "the storage is not an open file",
					"this is a bug in the caller");
			case Errno.EROFS -> new InvalidRequestException(operation, errno, "the storage is read-only",
					"put the difference storage on a writable device or file system");
			case Errno.EFBIG -> new InvalidRequestException(operation, errno, "the limit is too large for the file system",
					"use a smaller --limit");
			case Errno.EINVAL -> new InvalidRequestException(operation, errno, "invalid request",
					"a limit below 4096, a limit of 0 for a directory or an empty file, a take without devices, "
							+ "or a reserved field the module rejects");
			default -> fromErrno(operation, errno);
		};
	}
}
