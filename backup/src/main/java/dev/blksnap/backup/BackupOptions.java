// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

/**
 * How a backup runs.
 *
 * @param mode       which kind of point to make
 * @param readers    image reads in flight at once, 1..64
 * @param chunkBytes bytes per read, 64 KiB..64 MiB (rounded to whole clusters)
 * @param readHoles  read the blocks the change map knows were discarded or zeroed, as changed
 *                   data, instead of storing them as zeros (see {@link HoleCheck})
 * @param replayJournal before the copy, mount read-write each image whose ext3, ext4 or xfs journal needs
 *                   recovery, so that the kernel replays it into the image (which must be writable), and
 *                   unmount it; such a point is full, and the next point of the device too (the replay's
 *                   writes are not in the change map)
 */
public record BackupOptions(Mode mode, int readers, int chunkBytes, boolean readHoles, boolean replayJournal) {
	/** Reads in flight by default: enough to keep a disk's queue busy. */
	public static final int DEFAULT_READERS = 4;
	/** Bytes per read by default. */
	public static final int DEFAULT_CHUNK = 1 << 20;

	/** Which kind of point to make. */
	public enum Mode {
		/** Incremental from the previous point when possible, else full (and say why). */
		AUTO,
		/** Full, whatever came before. */
		FULL,
		/** The blocks changed since the last full point, when possible, else full. */
		DIFFERENTIAL
	}

	/**
	 * Checks the values.
	 *
	 * @throws IllegalArgumentException when one is out of range
	 */
	public BackupOptions {
		java.util.Objects.requireNonNull(mode, "mode");
		if (readers < 1 || readers > 64)
			throw new IllegalArgumentException("readers " + readers + " outside 1..64");
		if (chunkBytes < (64 << 10) || chunkBytes > (64 << 20))
			throw new IllegalArgumentException("chunk of " + chunkBytes + " bytes outside 64 KiB..64 MiB");
	}

	/**
	 * Options without a journal replay.
	 *
	 * @param mode       the mode
	 * @param readers    reads in flight
	 * @param chunkBytes bytes per read
	 * @param readHoles  read the holes as changed data
	 */
	public BackupOptions(Mode mode, int readers, int chunkBytes, boolean readHoles) {
		this(mode, readers, chunkBytes, readHoles, false);
	}

	/**
	 * Options that trust the holes the change map reports.
	 *
	 * @param mode       the mode
	 * @param readers    reads in flight
	 * @param chunkBytes bytes per read
	 */
	public BackupOptions(Mode mode, int readers, int chunkBytes) {
		this(mode, readers, chunkBytes, false);
	}

	/**
	 * @param mode the mode
	 * @return the options with the default readers and chunk size
	 */
	public static BackupOptions of(Mode mode) {
		return new BackupOptions(mode, DEFAULT_READERS, DEFAULT_CHUNK);
	}
}
