// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

/**
 * A non-empty range of 512-byte sectors of a device.
 *
 * @param offset the first sector, {@code >= 0}
 * @param count  the number of sectors, {@code > 0}
 */
public record SectorRange(long offset, long count) {
	/** Bytes in a sector, the unit of this record. */
	public static final int SECTOR_SIZE = 512;

	/**
	 * Checks the range.
	 *
	 * @throws IllegalArgumentException when the offset is negative, the count not
	 *                                  positive, or the end overflows
	 */
	public SectorRange {
		if (offset < 0)
			throw new IllegalArgumentException("negative sector offset " + offset);
		if (count <= 0)
			throw new IllegalArgumentException("sector count must be positive, got " + count);
		if (offset + count < 0)
			throw new IllegalArgumentException("sector range " + offset + "+" + count + " overflows");
	}

	/**
	 * The first sector after the range.
	 *
	 * @return {@code offset + count}
	 */
	public long end() {
		return offset + count;
	}
}
