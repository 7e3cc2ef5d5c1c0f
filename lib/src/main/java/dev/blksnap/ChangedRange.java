// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

/**
 * A range of changed device bytes, all of one kind, as
 * {@link CbtMap#changesSince(int, int)} reports them: written data to read,
 * or a hole (last changed by a discard, secure erase, write-zeroes or zone
 * reset that covered each block whole: zeroes or undefined content, which a
 * backup may store as a hole without reading).
 *
 * @param offset the first byte, {@code >= 0}
 * @param length bytes, {@code > 0}
 * @param hole   whether the range is a hole
 */
public record ChangedRange(long offset, long length, boolean hole) {
	/**
	 * Checks the values.
	 *
	 * @throws IllegalArgumentException when the range is empty, negative or overflows
	 */
	public ChangedRange {
		if (offset < 0 || length <= 0 || offset + length < offset)
			throw new IllegalArgumentException("bad changed range " + offset + "+" + length);
	}

	/**
	 * The bytes as a plain range.
	 *
	 * @return the range
	 */
	public ByteRange range() {
		return new ByteRange(offset, length);
	}
}
