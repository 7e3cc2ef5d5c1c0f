// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.util.Arrays;
import java.util.BitSet;
import java.util.Objects;
import java.util.UUID;

/**
 * A device's changed-block map at one instant. Block {@code i} stands for
 * bytes {@code [i * blockSize, (i + 1) * blockSize)}; its number is the
 * change number of its last write (0: not written in this generation).
 *
 * @param generation   numbers are comparable only within one generation
 * @param blockSize    bytes per block, a power of two
 * @param closedNumber the number closed at the instant: writes before it carry
 *                     this number or less, writes after it more
 * @param numbers      one change number per block (unsigned bytes)
 * @param zeroed       blocks whose last change was a discard or write-zeroes
 *                     covering the whole block: they read as zeros, no need to read them
 * @param corrupted    the map cannot be trusted (take a full backup)
 */
public record ChangeMap(UUID generation, int blockSize, int closedNumber, byte[] numbers, BitSet zeroed,
		boolean corrupted) {
	/**
	 * Checks and copies.
	 *
	 * @throws IllegalArgumentException when a value is impossible
	 */
	public ChangeMap {
		Objects.requireNonNull(generation, "generation");
		if (blockSize <= 0 || Integer.bitCount(blockSize) != 1)
			throw new IllegalArgumentException("block size " + blockSize + " is not a power of two");
		if (closedNumber < 0 || closedNumber > 255)
			throw new IllegalArgumentException("closed number " + closedNumber + " outside 0..255");
		numbers = numbers.clone();
		zeroed = (BitSet) zeroed.clone();
	}

	/**
	 * A map without zeroed blocks.
	 *
	 * @param generation   the generation
	 * @param blockSize    bytes per block
	 * @param closedNumber the number closed at the instant
	 * @param numbers      one change number per block
	 * @return the map
	 */
	public static ChangeMap of(UUID generation, int blockSize, int closedNumber, byte[] numbers) {
		return new ChangeMap(generation, blockSize, closedNumber, numbers, new BitSet(), false);
	}

	/**
	 * The same map with no block known to read zeros: every changed block
	 * is read (for a device that does not zero what it discards).
	 *
	 * @return the map without its zeroed set
	 */
	public ChangeMap withoutZeroed() {
		return new ChangeMap(generation, blockSize, closedNumber, numbers, new BitSet(), corrupted);
	}

	/** @return blocks in the map */
	public int blockCount() {
		return numbers.length;
	}

	/**
	 * @param block a block index
	 * @return its change number, 0..255
	 */
	public int number(int block) {
		return Byte.toUnsignedInt(numbers[block]);
	}

	/** @return a copy of the change numbers */
	@Override
	public byte[] numbers() {
		return numbers.clone();
	}

	/** @return a copy of the zeroed set */
	@Override
	public BitSet zeroed() {
		return (BitSet) zeroed.clone();
	}

	/**
	 * What a block holds for a point that follows one taken when
	 * {@code since} was closed.
	 *
	 * @param block a block index
	 * @param since the closed number of the earlier point, or -1 for a full backup
	 * @return unchanged, zeroed (reads zeros: changed by a discard or
	 *         write-zeroes before the instant) or changed (read it)
	 */
	public BlockState state(int block, int since) {
		int n = number(block);
		if (since >= 0 && n <= since)
			return BlockState.UNCHANGED;
		// A discard after the instant does not show in the image: only one
		// before it (number <= closed) means the image reads zeros.
		if (n > 0 && n <= closedNumber && zeroed.get(block))
			return BlockState.ZEROED;
		return BlockState.CHANGED;
	}

	/** What a block holds relative to an earlier point. */
	public enum BlockState {
		/** Not written since the earlier point. */
		UNCHANGED,
		/** Written, and its last change made it read zeros. */
		ZEROED,
		/** Written: read it. */
		CHANGED
	}

	@Override
	public boolean equals(Object o) {
		return o instanceof ChangeMap m && generation.equals(m.generation) && blockSize == m.blockSize
				&& closedNumber == m.closedNumber && Arrays.equals(numbers, m.numbers) && zeroed.equals(m.zeroed)
				&& corrupted == m.corrupted;
	}

	@Override
	public int hashCode() {
		return Objects.hash(generation, blockSize, closedNumber, Arrays.hashCode(numbers), zeroed, corrupted);
	}

	@Override
	public String toString() {
		return "ChangeMap[generation=" + generation + ", blockSize=" + blockSize + ", closedNumber=" + closedNumber
				+ ", blocks=" + numbers.length + ", zeroed=" + zeroed.cardinality() + ", corrupted=" + corrupted + "]";
	}
}
