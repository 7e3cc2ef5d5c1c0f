// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import dev.blksnap.internal.Uapi;

/** What take did to a device's file system. */
public enum FreezeState {
	/** Not taken yet, or taken without freezing. */
	NONE,
	/** Its file system was frozen: the image is consistent as after a clean unmount's flush. */
	FROZEN,
	/** No file system was mounted; its writes were flushed. */
	NO_FILESYSTEM,
	/** Freezing failed ({@link SnapshotDevice#freezeError()}): the image is only crash-consistent. */
	FAILED,
	/** A value this library does not know (a newer module). */
	UNKNOWN;

	static FreezeState of(int code) {
		return switch (code) {
			case Uapi.FREEZE_NONE -> NONE;
			case Uapi.FREEZE_FROZEN -> FROZEN;
			case Uapi.FREEZE_NO_FILESYSTEM -> NO_FILESYSTEM;
			case Uapi.FREEZE_FAILED -> FAILED;
			default -> UNKNOWN;
		};
	}
}
