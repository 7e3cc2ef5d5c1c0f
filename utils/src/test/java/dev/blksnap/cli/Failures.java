// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.AlreadyTrackedException;
import dev.blksnap.BlksnapErrnoException;
import dev.blksnap.BlksnapException;
import dev.blksnap.DeviceBusyException;
import dev.blksnap.InvalidRequestException;
import dev.blksnap.KernelOutOfMemoryException;
import dev.blksnap.ModuleNotLoadedException;
import dev.blksnap.NoSuchDeviceException;
import dev.blksnap.NotTrackedException;
import dev.blksnap.PermissionDeniedException;

/** The library's exceptions, built the way the library builds them from an errno. */
final class Failures {

	// Linux x86-64 errno values
	static final int EPERM = 1;
	static final int ENOENT = 2;
	static final int EIO = 5;
	static final int ENOMEM = 12;
	static final int EBUSY = 16;
	static final int ENODEV = 19;
	static final int ERANGE = 34;
	static final int EALREADY = 114;
	static final int ENOSPC = 28;

	private Failures() {
	}

	private static <T extends BlksnapException> T of(Class<T> type, String operation, int errno) {
		return type.cast(BlksnapException.fromErrno(operation, errno));
	}

	static PermissionDeniedException permission(String operation) {
		return of(PermissionDeniedException.class, operation, EPERM);
	}

	static ModuleNotLoadedException moduleNotLoaded(String operation) {
		return new ModuleNotLoadedException(operation, ENOENT, "module not loaded",
				"load it with 'modprobe blksnap'");
	}

	static NoSuchDeviceException noSuchDevice(String operation) {
		return of(NoSuchDeviceException.class, operation, ENODEV);
	}

	static NotTrackedException notTracked(String operation) {
		return of(NotTrackedException.class, operation, ENOENT);
	}

	static AlreadyTrackedException alreadyTracked(String operation) {
		return of(AlreadyTrackedException.class, operation, EALREADY);
	}

	static InvalidRequestException invalid(String operation) {
		return of(InvalidRequestException.class, operation, ERANGE);
	}

	static KernelOutOfMemoryException outOfMemory(String operation) {
		return of(KernelOutOfMemoryException.class, operation, ENOMEM);
	}

	static DeviceBusyException busy(String operation) {
		return of(DeviceBusyException.class, operation, EBUSY);
	}

	static BlksnapErrnoException errno(String operation) {
		return of(BlksnapErrnoException.class, operation, EIO);
	}
}
