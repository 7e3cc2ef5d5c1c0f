// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A whole changed-block map, read under one generation. Byte {@code i} is
 * the change number (0..255, unsigned) of the last write to block {@code i},
 * or 0 when the block has not been written since the generation began.
 *
 * <p>The array is copied on the way in and out, so a map is immutable;
 * use {@link #changeNumber(int)} to look at single blocks.
 *
 * @param info    the map's state when it was read; {@code info.blockCount()}
 *                equals {@code changes.length}
 * @param changes one change number per block
 */
public record CbtMap(CbtInfo info, byte[] changes) {
	/**
	 * Checks and copies.
	 *
	 * @throws NullPointerException     when an argument is null
	 * @throws IllegalArgumentException when the array length is not {@code info.blockCount()}
	 */
	public CbtMap {
		Objects.requireNonNull(info, "info");
		if (changes.length != info.blockCount())
			throw new IllegalArgumentException("map has " + changes.length + " bytes, info says "
					+ info.blockCount());
		changes = changes.clone();
	}

	/**
	 * A copy of the change numbers.
	 *
	 * @return a new array of {@code info.blockCount()} bytes
	 */
	@Override
	public byte[] changes() {
		return changes.clone();
	}

	/**
	 * The change number of one block.
	 *
	 * @param block the block index, {@code 0 <= block < info().blockCount()}
	 * @return 0..255
	 * @throws IndexOutOfBoundsException when the block is outside the map
	 */
	public int changeNumber(int block) {
		Objects.checkIndex(block, changes.length);
		return Byte.toUnsignedInt(changes[block]);
	}

	/**
	 * The device bytes written after change number {@code number} closed:
	 * the blocks whose number is greater, adjacent blocks merged into one
	 * range, in ascending order. The last block is clamped to the device
	 * capacity, so no range runs past the end of the device.
	 *
	 * @param number a {@link Checkpoint#closedNumber()}, 0..255; 0 means every
	 *               block written in this generation
	 * @return the ranges, empty when nothing changed
	 * @throws IllegalArgumentException when the number is outside 0..255
	 */
	public List<ByteRange> changedSince(int number) {
		CbtInfo.checkNumber(number, "change number");
		long blockSize = info.blockSize();
		long capacity = info.capacityBytes();
		List<ByteRange> ranges = new ArrayList<>();
		int block = 0;
		while (block < changes.length) {
			if (Byte.toUnsignedInt(changes[block]) <= number) {
				block++;
				continue;
			}
			int first = block;
			while (block < changes.length && Byte.toUnsignedInt(changes[block]) > number)
				block++;
			long start = first * blockSize;
			long end = Math.min(block * blockSize, capacity);
			// A block wholly past the capacity (a map larger than the
			// device) stands for no device bytes.
			if (end > start)
				ranges.add(new ByteRange(start, end - start));
		}
		return List.copyOf(ranges);
	}

	/**
	 * How many blocks changed after change number {@code number} closed.
	 *
	 * @param number 0..255, as for {@link #changedSince(int)}
	 * @return blocks whose number is greater than {@code number}
	 * @throws IllegalArgumentException when the number is outside 0..255
	 */
	public long changedBlockCount(int number) {
		CbtInfo.checkNumber(number, "change number");
		long count = 0;
		for (byte b : changes) {
			if (Byte.toUnsignedInt(b) > number)
				count++;
		}
		return count;
	}

	/** Equal when the infos and all change numbers are equal. */
	@Override
	public boolean equals(Object o) {
		return o instanceof CbtMap other && info.equals(other.info) && Arrays.equals(changes, other.changes);
	}

	@Override
	public int hashCode() {
		return 31 * info.hashCode() + Arrays.hashCode(changes);
	}

	/** The info and the number of changed blocks, not the whole map. */
	@Override
	public String toString() {
		return "CbtMap[info=" + info + ", changedBlocks=" + changedBlockCount(0) + "]";
	}
}
