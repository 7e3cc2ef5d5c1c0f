// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

/**
 * A range of bytes of a device, as {@link CbtMap#changedSince(int)} reports
 * them.
 *
 * @param offset the first byte, {@code >= 0}
 * @param length the number of bytes, {@code >= 0}
 */
public record ByteRange(long offset, long length) {
	/**
	 * Checks the range.
	 *
	 * @throws IllegalArgumentException when offset or length is negative or the end overflows
	 */
	public ByteRange {
		if (offset < 0 || length < 0 || offset + length < 0)
			throw new IllegalArgumentException("bad byte range " + offset + "+" + length);
	}

	/**
	 * The first byte after the range.
	 *
	 * @return {@code offset + length}
	 */
	public long end() {
		return offset + length;
	}
}
