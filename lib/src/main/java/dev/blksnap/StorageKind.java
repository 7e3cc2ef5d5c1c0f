// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import dev.blksnap.internal.Uapi;

/** What a snapshot's difference storage is. */
public enum StorageKind {
	/** A block device, written directly. */
	BLOCK_DEVICE,
	/** A regular file. */
	FILE,
	/** An unnamed temporary file in a directory, gone with the snapshot. */
	TMPFILE,
	/** A kind this library does not know (a newer module). */
	UNKNOWN;

	static StorageKind of(int code) {
		return switch (code) {
			case Uapi.STORAGE_BDEV -> BLOCK_DEVICE;
			case Uapi.STORAGE_FILE -> FILE;
			case Uapi.STORAGE_TMPFILE -> TMPFILE;
			default -> UNKNOWN;
		};
	}
}
