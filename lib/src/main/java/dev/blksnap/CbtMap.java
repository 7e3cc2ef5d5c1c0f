// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Objects;

/**
 * A whole changed-block map, read under one generation. Byte {@code i} is
 * the change number (0..255, unsigned) of the last write to block {@code i},
 * or 0 when the block has not been written since the generation began.
 *
 * <p>A block may be a hole: its last change was a discard, secure erase,
 * write-zeroes or zone reset that covered it whole, so its content is
 * zeroes or undefined and a backup may store it as a hole without reading
 * it. A hole bit describes the block's last change when the map was read;
 * {@link #changesSince(int, int)} trusts it only where that is the change
 * the backup is made against.
 *
 * <p>The arrays are copied on the way in and out, so a map is immutable;
 * use {@link #changeNumber(int)} and {@link #hole(int)} to look at single
 * blocks.
 *
 * @param info    the map's state when it was read; {@code info.blockCount()}
 *                equals {@code changes.length}
 * @param changes one change number per block
 * @param holes   bit {@code i} set when block {@code i} is a hole; none
 *                beyond the map, empty when the module does not report holes
 */
public record CbtMap(CbtInfo info, byte[] changes, BitSet holes) {
	/**
	 * Checks and copies.
	 *
	 * @throws NullPointerException     when an argument is null
	 * @throws IllegalArgumentException when the array length is not {@code info.blockCount()},
	 *                                  or a hole lies beyond it
	 */
	public CbtMap {
		Objects.requireNonNull(info, "info");
		if (changes.length != info.blockCount())
			throw new IllegalArgumentException("map has " + changes.length + " bytes, info says "
					+ info.blockCount());
		if (holes.length() > changes.length)
			throw new IllegalArgumentException("hole at block " + (holes.length() - 1) + " beyond the map");
		changes = changes.clone();
		holes = (BitSet) holes.clone();
	}

	/**
	 * A map without holes.
	 *
	 * @param info    as for the canonical constructor
	 * @param changes as for the canonical constructor
	 */
	public CbtMap(CbtInfo info, byte[] changes) {
		this(info, changes, new BitSet());
	}

	/**
	 * A copy of the hole bits.
	 *
	 * @return bit {@code i} set when block {@code i} is a hole
	 */
	@Override
	public BitSet holes() {
		return (BitSet) holes.clone();
	}

	/**
	 * Whether a block's last change, when the map was read, left it a hole.
	 *
	 * @param block the block index, {@code 0 <= block < info().blockCount()}
	 * @return true for a hole
	 * @throws IndexOutOfBoundsException when the block is outside the map
	 */
	public boolean hole(int block) {
		Objects.checkIndex(block, changes.length);
		return holes.get(block);
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
		// With no closed number no block is a hole: one kind, merged as before.
		return changesSince(number, 0).stream().map(ChangedRange::range).toList();
	}

	/**
	 * The device bytes changed after change number {@code since} closed, as
	 * {@link #changedSince(int)} names them, split into holes and written
	 * data: a block is a hole only when its bit is set and its number is at
	 * most {@code closed}, the number closed by the checkpoint (or snapshot)
	 * the backup reads; a block changed after that checkpoint has a higher
	 * number, and its bit describes a change the backup does not see, so
	 * it is data to read. Adjacent blocks of the same kind are merged.
	 *
	 * @param since  the number the previous backup was made against, 0..255
	 * @param closed the number the backup is made against, 0..255; 0 (a new
	 *               generation) makes no block a hole
	 * @return the ranges in ascending order, empty when nothing changed
	 * @throws IllegalArgumentException when a number is outside 0..255
	 */
	public List<ChangedRange> changesSince(int since, int closed) {
		CbtInfo.checkNumber(since, "change number");
		CbtInfo.checkNumber(closed, "closed number");
		long blockSize = info.blockSize();
		long capacity = info.capacityBytes();
		List<ChangedRange> ranges = new ArrayList<>();
		int block = 0;
		while (block < changes.length) {
			if (Byte.toUnsignedInt(changes[block]) <= since) {
				block++;
				continue;
			}
			int first = block;
			boolean hole = isHole(block, closed);
			while (block < changes.length && Byte.toUnsignedInt(changes[block]) > since
					&& isHole(block, closed) == hole)
				block++;
			long start = first * blockSize;
			long end = Math.min(block * blockSize, capacity);
			// A block wholly past the capacity (a map larger than the
			// device) stands for no device bytes.
			if (end > start)
				ranges.add(new ChangedRange(start, end - start, hole));
		}
		return List.copyOf(ranges);
	}

	private boolean isHole(int block, int closed) {
		int number = Byte.toUnsignedInt(changes[block]);
		return holes.get(block) && number != 0 && number <= closed;
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

	/** Equal when the infos, all change numbers and all hole bits are equal. */
	@Override
	public boolean equals(Object o) {
		return o instanceof CbtMap other && info.equals(other.info) && Arrays.equals(changes, other.changes)
				&& holes.equals(other.holes);
	}

	@Override
	public int hashCode() {
		return 31 * (31 * info.hashCode() + Arrays.hashCode(changes)) + holes.hashCode();
	}

	/** The info and the number of changed blocks, not the whole map. */
	@Override
	public String toString() {
		return "CbtMap[info=" + info + ", changedBlocks=" + changedBlockCount(0) + "]";
	}
}
