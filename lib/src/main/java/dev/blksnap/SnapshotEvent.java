// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import java.util.Optional;

/**
 * Something that happened to a snapshot, as {@link Snapshot#waitEvent} returns it.
 * Every event carries when it was raised ({@code CLOCK_BOOTTIME}), the storage
 * used and its limit at that time, and how many events were dropped before
 * it because nobody read them.
 */
public sealed interface SnapshotEvent {
	/** @return nanoseconds of {@code CLOCK_BOOTTIME} when it was raised */
	long timeNs();

	/** @return bytes of storage used then */
	long used();

	/** @return the storage limit then */
	long limit();

	/** @return events dropped before this one (the module's queue was full) */
	int lost();

	/**
	 * Free storage fell below the module's margin ({@code storage_low_free_mib}, at most
	 * half the storage), or a storage file could not grow: add storage
	 * ({@link Snapshot#addStorage}, which re-arms this event) or finish the backup soon,
	 * or expect an {@link Overflow}. Raised once until storage is added.
	 */
	record LowFreeSpace(long timeNs, long used, long limit, int lost) implements SnapshotEvent {
	}

	/** No storage was left: the snapshot is broken (ENOSPC), its images fail. */
	record Overflow(long timeNs, long used, long limit, int lost) implements SnapshotEvent {
	}

	/**
	 * The snapshot broke for another reason: {@code errno} (its name in
	 * {@code errnoName}), on {@code device} when one device's copy failed.
	 */
	record Corrupted(int errno, String errnoName, Optional<DeviceId> device, long timeNs, long used,
			long limit, int lost) implements SnapshotEvent {
	}
}
