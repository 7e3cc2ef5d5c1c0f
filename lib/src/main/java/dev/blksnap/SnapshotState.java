// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import dev.blksnap.internal.Uapi;

/** Where a snapshot is in its life. */
public enum SnapshotState {
	/** Devices may be added; not taken yet. */
	CREATED,
	/** Taken: copy-on-write runs, the images are readable. */
	TAKEN,
	/** Copy-on-write stopped ({@link SnapshotInfo#error()} says why); the images fail every read. */
	BROKEN,
	/** A state this library does not know (a newer module). */
	UNKNOWN;

	static SnapshotState of(int code) {
		return switch (code) {
			case Uapi.SNAPSHOT_STATE_CREATED -> CREATED;
			case Uapi.SNAPSHOT_STATE_TAKEN -> TAKEN;
			case Uapi.SNAPSHOT_STATE_BROKEN -> BROKEN;
			default -> UNKNOWN;
		};
	}
}
