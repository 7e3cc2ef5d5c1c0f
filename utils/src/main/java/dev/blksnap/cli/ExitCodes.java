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
import dev.blksnap.NoSpaceException;
import dev.blksnap.NoSuchSnapshotException;
import dev.blksnap.NotSupportedException;
import dev.blksnap.SnapshotStateException;
import dev.blksnap.backup.DamagedPointException;
import dev.blksnap.backup.NoSuchPointException;
import dev.blksnap.backup.ReplayFailedException;
import dev.blksnap.backup.RepositoryLockedException;
import dev.blksnap.backup.SnapshotBrokenException;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/**
 * Exit codes of the blksnap command. Small numbers are outcomes a backup
 * script branches on; the rest follow sysexits.h. The "Exit codes" section of
 * {@code blksnap --help} lists them; a test keeps the two in step.
 */
public final class ExitCodes {

	public static final int OK = 0;
	/** Picocli's default for a bad command line. */
	public static final int USAGE = 2;
	public static final int NOT_TRACKED = 3;
	public static final int ALREADY_TRACKED = 4;
	/** The map cannot serve the request: corrupted, or another generation. */
	public static final int MAP_UNUSABLE = 5;
	/** verify found a damaged or missing point. */
	public static final int VERIFY_FAILED = 6;
	/** The snapshot broke while a backup read it. */
	public static final int SNAPSHOT_BROKEN = 7;
	/** snapshot wait-event: no event within --timeout. */
	public static final int NO_EVENT = 8;
	/** backup --replay-journal: mounting an image to replay its journal failed. */
	public static final int REPLAY_FAILED = 9;
	public static final int INVALID_REQUEST = 65; // EX_DATAERR
	public static final int NO_SUCH_DEVICE = 66; // EX_NOINPUT
	public static final int MODULE_NOT_LOADED = 69; // EX_UNAVAILABLE
	public static final int INTERNAL = 70; // EX_SOFTWARE
	public static final int KERNEL = 71; // EX_OSERR
	public static final int IO = 74; // EX_IOERR
	public static final int BUSY = 75; // EX_TEMPFAIL
	public static final int PERMISSION = 77; // EX_NOPERM


	private ExitCodes() {
	}

	/** The exit code for a failure. */
	public static int of(Throwable failure) {
		return switch (failure) {
			case BlksnapException e -> of(e);
			case MapUnusableException _ -> MAP_UNUSABLE;
			case SnapshotBrokenException _ -> SNAPSHOT_BROKEN;
			case ReplayFailedException _ -> REPLAY_FAILED;
			case DamagedPointException _ -> VERIFY_FAILED;
			case RepositoryLockedException _ -> BUSY;
			case NoSuchPointException _, NoSuchFileException _, NotDirectoryException _ -> NO_SUCH_DEVICE;
			case IOException _ -> IO;
			default -> INTERNAL;
		};
	}

	private static int of(BlksnapException e) {
		return switch (e) {
			case PermissionDeniedException _ -> PERMISSION;
			case ModuleNotLoadedException _ -> MODULE_NOT_LOADED;
			case NoSuchDeviceException _ -> NO_SUCH_DEVICE;
			case NotTrackedException _ -> NOT_TRACKED;
			case AlreadyTrackedException _ -> ALREADY_TRACKED;
			case InvalidRequestException _ -> INVALID_REQUEST;
			case KernelOutOfMemoryException _ -> KERNEL;
			case DeviceBusyException _ -> BUSY;
			case NoSuchSnapshotException _ -> NO_SUCH_DEVICE;
			case SnapshotStateException _, NotSupportedException _ -> INVALID_REQUEST;
			case NoSpaceException _ -> IO;
			case BlksnapErrnoException _ -> KERNEL;
			default -> KERNEL;
		};
	}
}
