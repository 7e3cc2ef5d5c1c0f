// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import dev.blksnap.backup.io.DirectIo;
import dev.blksnap.backup.qcow2.Qcow2Writer;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.zip.CRC32C;

/**
 * Copies the planned clusters of one device image into a qcow2 writer, as a
 * pipeline: reads of up to {@code chunkBytes} run on the read pool, several
 * in flight; this thread takes their results in guest order, maps their
 * clusters in the point and hands the data to the write pool, several
 * writes in flight, so that it never waits on a read while a write could go
 * on, nor the other way round. Zero checks and CRCs run on the read pool, in
 * parallel. A cluster that reads all zeros, or that the plan knows to be
 * a hole (not read), is not stored in a full point (it reads zeros anyway)
 * and is a zero cluster in a point with a backing file (it must hide the
 * backing file's data: left unallocated it would read the backing file's).
 * Between chunks it asks whether the image is known to be broken (a
 * snapshot event), so that a broken copy stops at once, not at its end.
 */
final class PointCopier {
	/** Throws when the image is known to be broken; cheap, no I/O. */
	@FunctionalInterface
	interface BrokenCheck {
		void check() throws SnapshotBrokenException;
	}

	/**
	 * The outcome.
	 *
	 * @param bytesRead    bytes read from the image
	 * @param dataClusters clusters stored with data
	 * @param zeroClusters zero clusters stored
	 * @param digest       see {@link Manifest.Checksums}
	 */
	record Result(long bytesRead, long dataClusters, long zeroClusters, String digest) {
	}

	/** A failed read of the image, told apart from failed writes of the point. */
	static final class ReadFailedException extends IOException {
		private static final long serialVersionUID = 1L;

		ReadFailedException(String message, IOException cause) {
			super(message, cause);
		}
	}

	/** Clusters read by one task, with a zero flag and a CRC-32C each. */
	private record Chunk(long first, int count, ByteBuffer buffer, boolean[] zero, int[] crc, long bytesRead) {
	}

	/** Runs of a chunk's data clusters and where the point keeps them. */
	private record Run(ByteBuffer data, long hostOffset) {
	}

	private final ImageReader image;
	private final Qcow2Writer writer;
	private final long size;
	private final boolean storeZeros;
	private final ExecutorService readPool;
	private final ExecutorService writePool;
	private final int inFlight;
	private final int clusterSize;
	private final int chunkClusters;
	private final MemorySegment zeros;
	private final Progress progress;
	private final BrokenCheck broken;
	/** Buffers no read or write holds; touched by this thread only. */
	private final Deque<ByteBuffer> buffers = new ArrayDeque<>();
	private int allocated;
	private final MessageDigest digest;
	private final ByteBuffer record = ByteBuffer.allocate(13);
	private long bytesRead;

	/**
	 * @param image      the device image
	 * @param writer     the point being written
	 * @param size       the device size
	 * @param storeZeros whether all-zero clusters become zero clusters (a point with a backing file)
	 * @param readPool   runs the reads
	 * @param writePool  runs the writes
	 * @param inFlight   reads, and writes, outstanding at most
	 * @param chunkBytes bytes per read, rounded to whole clusters
	 * @param progress   told about every chunk stored
	 * @param broken     asked before every read is submitted and every chunk stored
	 */
	PointCopier(ImageReader image, Qcow2Writer writer, long size, boolean storeZeros, ExecutorService readPool,
			ExecutorService writePool, int inFlight, int chunkBytes, Progress progress, BrokenCheck broken) {
		this.image = image;
		this.writer = writer;
		this.size = size;
		this.storeZeros = storeZeros;
		this.readPool = readPool;
		this.writePool = writePool;
		this.inFlight = inFlight;
		this.clusterSize = writer.clusterSize();
		this.chunkClusters = Math.max(1, chunkBytes / clusterSize);
		this.zeros = MemorySegment.ofArray(new byte[clusterSize]);
		this.progress = progress;
		this.broken = broken;
		this.digest = sha256();
	}

	static MessageDigest sha256() {
		try {
			return MessageDigest.getInstance("SHA-256");
		} catch (NoSuchAlgorithmException e) {
			throw new IllegalStateException("the JDK has no SHA-256", e);
		}
	}

	/** Copies the plan's clusters; the writer is finished by the caller. */
	Result copy(ClusterPlan.Plan plan) throws IOException {
		long dataBefore = writer.dataClusters();
		long zeroBefore = writer.zeroClusters();
		// Closed in reverse order on failure: no read, then no write, runs any more.
		try (Ordered<ByteBuffer> writes = new Ordered<>(writePool, inFlight, buffers::push);
				Ordered<Chunk> reads = new Ordered<>(readPool, inFlight, chunk -> store(chunk, writes))) {
			for (ClusterPlan.Extent e : plan.extents()) {
				switch (e.kind()) {
					case UNCHANGED -> {
					}
					// Without a backing file an unallocated cluster reads zeros already.
					case ZERO -> {
						if (storeZeros) {
							// Ordered after the reads before it: the writer takes clusters in order.
							reads.drain();
							writer.putZero(e.first(), e.count());
							for (long c = e.first(); c < e.first() + e.count(); c++)
								digestCluster(c, 2, 0);
						}
					}
					case READ -> {
						for (long c = e.first(); c < e.first() + e.count(); c += chunkClusters) {
							broken.check();
							int n = (int) Math.min(chunkClusters, e.first() + e.count() - c);
							ByteBuffer buffer = buffer();
							long first = c;
							reads.submit(() -> read(first, n, buffer));
						}
					}
				}
			}
			reads.drain();
			writes.drain();
		}
		return new Result(bytesRead, writer.dataClusters() - dataBefore, writer.zeroClusters() - zeroBefore,
				HexFormat.of().formatHex(digest.digest()));
	}

	/** A free buffer: at most one per read and per write in flight, plus the two this thread holds. */
	private ByteBuffer buffer() {
		ByteBuffer b = buffers.poll();
		if (b == null) {
			if (++allocated > 2 * inFlight + 2)
				throw new IllegalStateException("more buffers than reads and writes in flight");
			// Aligned: the image may be read, and the point written, with O_DIRECT.
			b = DirectIo.buffer(chunkClusters * clusterSize);
		}
		return b;
	}

	/** On the read pool: reads clusters and checks each for zeros. */
	private Chunk read(long first, int count, ByteBuffer buffer) throws IOException {
		long offset = first * clusterSize;
		int bytes = (int) Math.min((long) count * clusterSize, size - offset);
		buffer.clear().limit(bytes);
		try {
			image.readFully(buffer, offset);
		} catch (IOException e) {
			throw new ReadFailedException("read of the image failed at byte " + offset + " (" + bytes + " bytes): "
					+ e.getMessage(), e);
		}
		MemorySegment all = MemorySegment.ofBuffer(buffer.clear().limit(count * clusterSize));
		// The last cluster of a device may be partial: pad it with zeros.
		all.asSlice(bytes).fill((byte) 0);
		boolean[] zero = new boolean[count];
		int[] crc = new int[count];
		CRC32C c = new CRC32C();
		for (int i = 0; i < count; i++) {
			MemorySegment cluster = all.asSlice((long) i * clusterSize, clusterSize);
			zero[i] = cluster.mismatch(zeros) < 0;
			if (!zero[i]) {
				c.reset();
				c.update(buffer.slice(i * clusterSize, clusterSize));
				crc[i] = (int) c.getValue();
			}
		}
		return new Chunk(first, count, buffer, zero, crc, bytes);
	}

	/** On this thread, in guest order: maps a chunk's clusters in the point and hands its data to a write. */
	private void store(Chunk chunk, Ordered<ByteBuffer> writes) throws IOException {
		broken.check();
		List<Run> runs = new ArrayList<>();
		int i = 0;
		while (i < chunk.count()) {
			int j = i;
			while (j < chunk.count() && chunk.zero()[j] == chunk.zero()[i])
				j++;
			long first = chunk.first() + i;
			if (!chunk.zero()[i]) {
				runs.add(new Run(chunk.buffer().slice(i * clusterSize, (j - i) * clusterSize),
						writer.reserveData(first, j - i)));
				for (int k = i; k < j; k++)
					digestCluster(chunk.first() + k, 1, chunk.crc()[k]);
			} else if (storeZeros) {
				writer.putZero(first, j - i);
				for (int k = i; k < j; k++)
					digestCluster(chunk.first() + k, 2, 0);
			}
			i = j;
		}
		bytesRead += chunk.bytesRead();
		progress.advance(chunk.bytesRead());
		if (runs.isEmpty()) {
			buffers.push(chunk.buffer());
			return;
		}
		writes.submit(() -> {
			for (Run r : runs)
				writer.writeData(r.data(), r.hostOffset());
			return chunk.buffer();
		});
	}

	private void digestCluster(long cluster, int kind, int crc) {
		digest.update(record.clear().putLong(cluster).put((byte) kind).putInt(crc).flip());
	}
}
