// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Whether a device reads zeros where the change map says a block's last
 * change was a discard (a "hole"), judged from a few of them.
 *
 * <p>Write-zeroes leaves zeros, but a discard is a hint: the device may
 * keep the old bytes (QEMU's default {@code discard=ignore}, thick storage)
 * or return anything, and Linux 6.x no longer reports which
 * ({@code discard_zeroes_data} is always 0). A point stores a hole as zeros
 * without reading it, so it equals the image only where the device zeroed
 * it. Before trusting the holes of a point, the engine reads the first
 * {@value #SAMPLE_BYTES} bytes of up to {@value #SAMPLES} hole clusters
 * spread over the device; one that is not all zeros shows that this device
 * keeps discarded data, and every hole of the point is then read like
 * changed data. It costs at most {@value #SAMPLES} small reads, against
 * reading every hole.
 */
final class HoleCheck {
	/** Hole clusters sampled at most. */
	static final int SAMPLES = 8;
	/** Bytes read from the start of each sampled cluster. */
	static final int SAMPLE_BYTES = 4096;

	/**
	 * The outcome.
	 *
	 * @param sampled   hole clusters read
	 * @param dataAt    the byte offset of the first sample that did not read zeros, or -1
	 * @param bytesRead bytes read
	 */
	record Result(int sampled, long dataAt, long bytesRead) {
		boolean holesReadZeros() {
			return dataAt < 0;
		}
	}

	private HoleCheck() {
	}

	/**
	 * Reads samples of the plan's zero clusters.
	 *
	 * @param plan        the plan, whose ZERO extents are the holes
	 * @param clusterBits log2 of the cluster size
	 * @param size        the device size
	 * @param image       the device image
	 * @return what the samples read; none sampled when the plan has no holes
	 * @throws IOException when a read fails
	 */
	static Result sample(ClusterPlan.Plan plan, int clusterBits, long size, ImageReader image) throws IOException {
		List<ClusterPlan.Extent> holes = plan.extents().stream().filter(e -> e.kind() == ClusterPlan.Kind.ZERO)
				.toList();
		long total = holes.stream().mapToLong(ClusterPlan.Extent::count).sum();
		List<Long> picked = new ArrayList<>();
		// Evenly over the holes in guest order: the first, then every total/SAMPLES-th.
		for (int k = 0; k < SAMPLES && k < total; k++)
			picked.add(nth(holes, k * total / Math.min(SAMPLES, total)));
		ByteBuffer buffer = ByteBuffer.allocate(SAMPLE_BYTES);
		long read = 0;
		for (long cluster : picked) {
			long offset = cluster << clusterBits;
			int bytes = (int) Math.min(Math.min(SAMPLE_BYTES, 1L << clusterBits), size - offset);
			buffer.clear().limit(bytes);
			image.readFully(buffer, offset);
			read += bytes;
			for (int i = 0; i < bytes; i++) {
				if (buffer.get(i) != 0)
					return new Result(picked.indexOf(cluster) + 1, offset, read);
			}
		}
		return new Result(picked.size(), -1, read);
	}

	/** The {@code n}th cluster of the extents, counted from 0. */
	private static long nth(List<ClusterPlan.Extent> extents, long n) {
		for (ClusterPlan.Extent e : extents) {
			if (n < e.count())
				return e.first() + n;
			n -= e.count();
		}
		throw new IndexOutOfBoundsException("hole cluster " + n);
	}
}
