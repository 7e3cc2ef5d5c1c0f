// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import java.util.Objects;
import java.util.Optional;
import java.util.UUID;

/**
 * One device of a snapshot.
 *
 * @param origin          the device
 * @param image           its image device, once taken
 * @param capacitySectors its size (and its image's) in 512-byte sectors
 * @param chunkSize       bytes of a copy-on-write chunk
 * @param error           0, or the errno that broke the snapshot on this device
 * @param freezeError     the errno of a failed freeze, else 0
 * @param generation      the CBT generation of its map at take
 * @param closedNumber    the change number take closed: "changed since closedNumber" in
 *                        {@code generation} names the blocks written after the instant
 * @param freeze          what take did to its file system
 * @param writesHeld      writes held until their chunk was copied
 * @param chunksCopied    chunks whose original data was read
 * @param chunksStored    chunks whose original data is in the storage
 * @param discardsDropped discards dropped because they covered chunks not yet copied
 */
public record SnapshotDevice(DeviceId origin, Optional<DeviceId> image, long capacitySectors, int chunkSize,
		int error, int freezeError, UUID generation, int closedNumber, FreezeState freeze, long writesHeld,
		long chunksCopied, long chunksStored, long discardsDropped) {
	/**
	 * Checks the values.
	 *
	 * @throws NullPointerException when a reference is null
	 */
	public SnapshotDevice {
		Objects.requireNonNull(origin, "origin");
		Objects.requireNonNull(image, "image");
		Objects.requireNonNull(generation, "generation");
		Objects.requireNonNull(freeze, "freeze");
	}

	/** @return the size in bytes */
	public long capacityBytes() {
		return capacitySectors * SectorRange.SECTOR_SIZE;
	}
}
