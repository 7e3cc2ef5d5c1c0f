// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import java.util.Objects;
import java.util.UUID;

/**
 * The state of a device's changed-block map. Byte {@code i} of the map
 * stands for device bytes {@code [i * blockSize, (i + 1) * blockSize)}.
 *
 * @param device          the device
 * @param capacitySectors the device size in 512-byte sectors
 * @param blockSize       device bytes per map byte, a power of two
 * @param blockCount      bytes in the map
 * @param generation      changes whenever the map can no longer be compared with
 *                        earlier reads (attach, resize, wrap of the change number)
 * @param changesNumber   the number writes get now, 1..255
 * @param corrupted       the map can no longer be trusted; take a full backup
 * @param reason          why the current generation began
 */
public record CbtInfo(DeviceId device, long capacitySectors, int blockSize, int blockCount, UUID generation,
		int changesNumber, boolean corrupted, GenerationReason reason) {
	/**
	 * Checks the values.
	 *
	 * @throws NullPointerException     when device or generation is null
	 * @throws IllegalArgumentException when a value is impossible
	 */
	public CbtInfo {
		Objects.requireNonNull(device, "device");
		Objects.requireNonNull(generation, "generation");
		Objects.requireNonNull(reason, "reason");
		if (capacitySectors < 0 || capacitySectors > Long.MAX_VALUE / SectorRange.SECTOR_SIZE)
			throw new IllegalArgumentException("bad capacity " + Long.toUnsignedString(capacitySectors));
		if (blockSize <= 0 || Integer.bitCount(blockSize) != 1)
			throw new IllegalArgumentException("block size " + Integer.toUnsignedString(blockSize)
					+ " is not a power of two");
		if (blockCount < 0)
			throw new IllegalArgumentException("block count " + Integer.toUnsignedString(blockCount)
					+ " too large");
		checkNumber(changesNumber, "changes number");
	}

	/**
	 * A state whose generation began at attach.
	 *
	 * @param device          the device
	 * @param capacitySectors the device size in 512-byte sectors
	 * @param blockSize       device bytes per map byte, a power of two
	 * @param blockCount      bytes in the map
	 * @param generation      the generation
	 * @param changesNumber   the number writes get now, 1..255
	 * @param corrupted       the map can no longer be trusted
	 */
	public CbtInfo(DeviceId device, long capacitySectors, int blockSize, int blockCount, UUID generation,
			int changesNumber, boolean corrupted) {
		this(device, capacitySectors, blockSize, blockCount, generation, changesNumber, corrupted,
				GenerationReason.ATTACH);
	}

	static void checkNumber(int number, String what) {
		if (number < 0 || number > 255)
			throw new IllegalArgumentException(what + " " + number + " outside 0..255");
	}

	/**
	 * The device size in bytes.
	 *
	 * @return {@code capacitySectors * 512}
	 */
	public long capacityBytes() {
		return capacitySectors * SectorRange.SECTOR_SIZE;
	}
}
