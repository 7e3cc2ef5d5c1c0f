// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup.qcow2;

/**
 * The parts of the qcow2 format (version 3, qemu's docs/interop/qcow2.txt)
 * this package writes and reads: a header, optional backing file name and
 * format, a two-level L1/L2 cluster map with standard and zero clusters, and
 * 16-bit refcounts. No compression, encryption, internal snapshots, bitmaps,
 * external data files or extended L2 entries. All numbers are big-endian.
 */
public final class Qcow2 {
	/** "QFI\xfb". */
	static final int MAGIC = 0x514649fb;
	static final int VERSION = 3;
	/** Fixed header through compression_type, padded to a multiple of 8. */
	static final int HEADER_LENGTH = 112;
	/** 16-bit refcounts, what qemu-img creates by default. */
	static final int REFCOUNT_ORDER = 4;

	/** Smallest cluster the format allows (512 bytes). */
	public static final int MIN_CLUSTER_BITS = 9;
	/** Largest cluster qemu opens (2 MiB). */
	public static final int MAX_CLUSTER_BITS = 21;
	/** qemu refuses a larger L1 table (QCOW_MAX_L1_SIZE). */
	static final long MAX_L1_BYTES = 32L << 20;
	/** qemu refuses a larger refcount table (QCOW_MAX_REFTABLE_SIZE). */
	static final long MAX_REFTABLE_BYTES = 8L << 20;
	/** The spec's limit on a backing file name. */
	static final int MAX_BACKING_NAME = 1023;

	static final int EXT_END = 0;
	static final int EXT_BACKING_FORMAT = 0xe2792aca;

	/** L1 and standard L2 entries: the refcount is exactly one (no COW needed). */
	static final long OFLAG_COPIED = 1L << 63;
	/** L2 entries: compressed cluster. */
	static final long OFLAG_COMPRESSED = 1L << 62;
	/** Standard L2 entries: the cluster reads as zeros. */
	static final long OFLAG_ZERO = 1L;
	/** Bits 9-55: a host offset, cluster-aligned. */
	static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;

	private Qcow2() {
	}

	/**
	 * The cluster size for a device whose changed-block map has
	 * {@code blockSize}-byte blocks: the block size clamped to what qcow2
	 * allows (a larger block then maps to several clusters), doubled only
	 * when qemu's limit on the L1 table would be exceeded otherwise.
	 *
	 * @param blockSize   bytes per changed-block map entry, a power of two
	 * @param virtualSize the device size in bytes
	 * @return log2 of the cluster size, {@value #MIN_CLUSTER_BITS}..{@value #MAX_CLUSTER_BITS}
	 * @throws IllegalArgumentException when no cluster size can hold the device
	 */
	public static int clusterBitsFor(int blockSize, long virtualSize) {
		if (blockSize <= 0 || Integer.bitCount(blockSize) != 1)
			throw new IllegalArgumentException("block size " + blockSize + " is not a power of two");
		int bits = Math.clamp(Integer.numberOfTrailingZeros(blockSize), MIN_CLUSTER_BITS, MAX_CLUSTER_BITS);
		while (bits <= MAX_CLUSTER_BITS) {
			if (l1Entries(virtualSize, bits) * 8 <= MAX_L1_BYTES)
				return bits;
			bits++;
		}
		throw new IllegalArgumentException("a device of " + virtualSize + " bytes is too large for qcow2");
	}

	/** Entries of an L2 table (one cluster of 8-byte entries). */
	static long l2Entries(int clusterBits) {
		return 1L << (clusterBits - 3);
	}

	/** Entries the L1 table needs to map {@code virtualSize} bytes. */
	static long l1Entries(long virtualSize, int clusterBits) {
		long clusters = Math.ceilDiv(virtualSize, 1L << clusterBits);
		return Math.ceilDiv(clusters, l2Entries(clusterBits));
	}
}
