// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.util.ArrayList;
import java.util.List;

/**
 * Which guest clusters a point reads, stores as zeros, or leaves to its
 * backing file, derived from the change map. A cluster made of several
 * blocks is read when any of them changed (qcow2 stores whole clusters)
 * and is a zero cluster only when all of them are known to read zeros.
 */
final class ClusterPlan {
	/** What to do with a run of clusters. */
	enum Kind {
		/** Not changed: unallocated, read from the backing file. */
		UNCHANGED,
		/** Reads zeros: a zero cluster, nothing read. */
		ZERO,
		/** Read from the image. */
		READ
	}

	/**
	 * A run of clusters with one kind.
	 *
	 * @param first the first guest cluster
	 * @param count how many
	 * @param kind  what to do
	 */
	record Extent(long first, long count, Kind kind) {
	}

	/**
	 * @param extents       in ascending order, covering every cluster once
	 * @param changedBlocks blocks read because they changed
	 * @param zeroedBlocks  blocks known to read zeros
	 */
	record Plan(List<Extent> extents, long changedBlocks, long zeroedBlocks) {
		long clusters(Kind kind) {
			return extents.stream().filter(e -> e.kind() == kind).mapToLong(Extent::count).sum();
		}
	}

	private ClusterPlan() {
	}

	/**
	 * @param map         the change map, or null (read everything)
	 * @param since       the base point's closed number, or -1 for a full point
	 * @param clusterBits log2 of the cluster size
	 * @param size        the device size in bytes
	 * @return the plan
	 */
	static Plan of(ChangeMap map, int since, int clusterBits, long size) {
		long clusterSize = 1L << clusterBits;
		long clusters = Math.ceilDiv(size, clusterSize);
		List<Extent> extents = new ArrayList<>();
		if (map == null) {
			extents.add(new Extent(0, clusters, Kind.READ));
			return new Plan(List.copyOf(extents), 0, 0);
		}
		long blockSize = map.blockSize();
		long changed = 0;
		long zeroed = 0;
		long blocksInDevice = Math.ceilDiv(size, blockSize);
		for (long b = 0; b < blocksInDevice; b++) {
			ChangeMap.BlockState s = b < map.blockCount() ? map.state((int) b, since) : ChangeMap.BlockState.CHANGED;
			if (s == ChangeMap.BlockState.CHANGED)
				changed++;
			else if (s == ChangeMap.BlockState.ZEROED)
				zeroed++;
		}
		Kind runKind = null;
		long runStart = 0;
		for (long c = 0; c < clusters; c++) {
			long start = c * clusterSize;
			long end = Math.min(start + clusterSize, size);
			long firstBlock = start / blockSize;
			long lastBlock = (end - 1) / blockSize;
			boolean allZeroed = true;
			boolean allUnchanged = true;
			for (long b = firstBlock; b <= lastBlock; b++) {
				ChangeMap.BlockState s = b < map.blockCount() ? map.state((int) b, since)
						: ChangeMap.BlockState.CHANGED;
				allZeroed &= s == ChangeMap.BlockState.ZEROED;
				allUnchanged &= s == ChangeMap.BlockState.UNCHANGED;
			}
			Kind k = allUnchanged ? Kind.UNCHANGED : allZeroed ? Kind.ZERO : Kind.READ;
			if (k != runKind) {
				if (runKind != null)
					extents.add(new Extent(runStart, c - runStart, runKind));
				runKind = k;
				runStart = c;
			}
		}
		if (runKind != null)
			extents.add(new Extent(runStart, clusters - runStart, runKind));
		return new Plan(List.copyOf(extents), changed, zeroed);
	}
}
