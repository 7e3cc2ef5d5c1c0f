// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;
import java.util.Objects;
import java.util.UUID;

/**
 * What a point is, written next to its image as {@code ID.json} once the
 * image is complete: the manifest's presence is what makes a point exist.
 * Times are ISO-8601 UTC strings.
 *
 * @param format    manifest format version, {@value #FORMAT}
 * @param id        the point's id, shared by the devices of one backup run
 * @param type      full, incremental or differential
 * @param reason    why this type (for example why an incremental fell back to full)
 * @param device    the device's identity
 * @param image     the qcow2 file
 * @param cbt       the change-tracking state at the instant, or null without tracking
 * @param chain     the points this one needs
 * @param stats     what the copy did
 * @param checksums of the stored data, and of the backing point's
 * @param times     when
 * @param set       the devices backed up at the same instant (this run)
 * @param replay    what {@link BackupOptions#replayJournal()} did to the image before the copy; absent
 *                  without it
 */
public record Manifest(int format, String id, PointType type, String reason, DeviceIdentity device, Image image,
		Cbt cbt, Chain chain, Stats stats, Checksums checksums, Times times, List<String> set,
		@JsonInclude(JsonInclude.Include.NON_NULL) Replay replay) {
	/** The manifest format this library writes. */
	public static final int FORMAT = 1;

	/**
	 * Checks the required parts.
	 *
	 * @throws NullPointerException when one is missing
	 */
	public Manifest {
		Objects.requireNonNull(id, "id");
		Objects.requireNonNull(type, "type");
		Objects.requireNonNull(device, "device");
		Objects.requireNonNull(image, "image");
		Objects.requireNonNull(chain, "chain");
		Objects.requireNonNull(stats, "stats");
		Objects.requireNonNull(checksums, "checksums");
		Objects.requireNonNull(times, "times");
		set = List.copyOf(set);
	}

	/**
	 * The qcow2 file.
	 *
	 * @param file        its name, in the device's directory
	 * @param fileBytes   its size
	 * @param clusterSize bytes per cluster
	 * @param virtualSize the device size it holds
	 * @param backingFile the backing file name written in its header, or null
	 */
	public record Image(String file, long fileBytes, int clusterSize, long virtualSize, String backingFile) {
	}

	/**
	 * Change tracking at the instant.
	 *
	 * @param generation    the map's generation
	 * @param blockSize     bytes per block
	 * @param closedNumber  the number closed at the instant; the next point reads blocks above it
	 * @param sinceNumber   the closed number of the point this one is based on, or null for a full point
	 * @param changedBlocks blocks read as changed
	 * @param zeroedBlocks  holes: blocks whose last change before the instant was a discard or
	 *                      write-zeroes, stored as zeros without reading
	 * @param holes         how the map's holes were treated (sampled and trusted, or read and why),
	 *                      or null when the point had none
	 */
	public record Cbt(UUID generation, int blockSize, int closedNumber, Integer sinceNumber, long changedBlocks,
			long zeroedBlocks, String holes) {
	}

	/**
	 * The chain.
	 *
	 * @param backing the id of the backing point, or null for a full point
	 * @param full    the id of the full point at the bottom of the chain (this one when full)
	 * @param depth   points in the chain including this one (1 for a full point)
	 */
	public record Chain(String backing, String full, int depth) {
	}

	/**
	 * What the copy did.
	 *
	 * @param bytesRead         bytes read from the device's image (the hole samples included)
	 * @param bytesWritten      bytes of the qcow2 file
	 * @param holeBytes         device bytes of holes (see {@link Cbt#zeroedBlocks()}), stored as zero
	 *                          clusters in a point with a backing file, left unallocated in a full one,
	 *                          never read
	 * @param dataClusters      clusters stored with data
	 * @param zeroClusters      clusters stored as zero clusters (incremental and differential points)
	 * @param unchangedClusters clusters left to the backing file
	 * @param durationMillis    time from the start of the copy to the commit
	 */
	public record Stats(long bytesRead, long bytesWritten, long holeBytes, long dataClusters, long zeroClusters,
			long unchangedClusters, long durationMillis) {
	}

	/**
	 * Checksums. {@code data} is SHA-256 over, for every cluster the point
	 * stores in guest order, the cluster index (8 bytes, big-endian), its
	 * kind (1 data, 2 zero) and the CRC-32C of its bytes (4 bytes; 0 for a
	 * zero cluster).
	 *
	 * @param algorithm   {@value #ALGORITHM}
	 * @param data        hex digest of this point's stored clusters
	 * @param backingData the backing point's {@code data}, or null
	 */
	public record Checksums(String algorithm, String data, String backingData) {
		/** The name of the scheme above. */
		public static final String ALGORITHM = "sha256-of-cluster-crc32c";
	}

	/**
	 * @param snapshot when the instant was taken
	 * @param started  when the copy started
	 * @param finished when the point was committed
	 */
	public record Times(String snapshot, String started, String finished) {
	}

	/**
	 * The journal replay asked for with {@link BackupOptions#replayJournal()}.
	 * When {@code replayed}, the point holds the image after the kernel
	 * replayed the journal in it: it differs from the device at the instant
	 * by exactly what the replay wrote (journalled blocks in their home,
	 * the superblock's needs_recovery flag cleared, orphans released, the
	 * log's own blocks), and it is full.
	 *
	 * @param fileSystem ext3, ext4, xfs, ext2, or null when none of them
	 * @param replayed   whether the image was mounted and its journal replayed
	 * @param note       one line: what was done, or why not
	 */
	public record Replay(String fileSystem, boolean replayed, String note) {
	}
}
