// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup.qcow2;

import dev.blksnap.backup.io.DirectIo;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;

/**
 * Writes one qcow2 image in a single pass, clusters in ascending guest
 * order. The file is laid out as it goes: the header cluster (written last),
 * then data clusters and each L2 table as soon as the guest range it maps is
 * complete, then at {@link #finish()} the L1 table, the refcount blocks and
 * the refcount table. Every host cluster is used exactly once, so every
 * refcount is 1 and the file has no holes and no leaks.
 *
 * <p>Guest clusters never put are unallocated: they read from the backing
 * file, or as zeros without one. Not thread-safe: one writer thread, except
 * {@link #writeData}, which several threads may call for the clusters the
 * writer thread {@link #reserveData reserved}. Data clusters are written with
 * O_DIRECT when the file system allows it and the buffer is aligned
 * ({@link DirectIo}): a point is written once and rarely read, so the page
 * cache would only cost a copy per byte and the writeback of it.
 */
public final class Qcow2Writer implements Closeable {
	private final FileChannel file;
	/** The file opened with O_DIRECT as well, or null: aligned data goes past the page cache. */
	private final DirectIo direct;
	private final int clusterBits;
	private final int clusterSize;
	private final long virtualSize;
	private final long guestClusters;
	private final String backingFile;
	private final long[] l1;
	private final ByteBuffer l2;
	private final int l2Shift;
	/** L1 index of the table in {@link #l2}, or -1. */
	private long l2Index = -1;
	private boolean l2Used;
	/** The next free host offset. */
	private long end;
	/** The last guest cluster put, to enforce ascending order. */
	private long lastGuest = -1;
	private long dataClusters;
	private long zeroClusters;
	private boolean finished;

	private Qcow2Writer(FileChannel file, DirectIo direct, long virtualSize, int clusterBits, String backingFile) {
		this.file = file;
		this.direct = direct;
		this.clusterBits = clusterBits;
		this.clusterSize = 1 << clusterBits;
		this.virtualSize = virtualSize;
		this.guestClusters = Math.ceilDiv(virtualSize, clusterSize);
		this.backingFile = backingFile;
		this.l1 = new long[Math.toIntExact(Qcow2.l1Entries(virtualSize, clusterBits))];
		this.l2 = ByteBuffer.allocate(clusterSize);
		this.l2Shift = clusterBits - 3;
		this.end = clusterSize; // cluster 0 is the header
	}

	/**
	 * Creates (or truncates) {@code path} for a new image.
	 *
	 * @param path        the file, normally a temporary name renamed when complete
	 * @param virtualSize the guest size in bytes, a multiple of 512
	 * @param clusterBits log2 of the cluster size, 9..21
	 * @param backingFile the backing file name as qemu resolves it (relative to
	 *                    the image's directory), or null for a standalone image
	 * @return the writer
	 * @throws IOException              when the file cannot be created
	 * @throws IllegalArgumentException when a value is out of range
	 */
	public static Qcow2Writer create(Path path, long virtualSize, int clusterBits, String backingFile)
			throws IOException {
		if (virtualSize <= 0 || virtualSize % 512 != 0)
			throw new IllegalArgumentException("virtual size " + virtualSize + " is not a positive multiple of 512");
		if (clusterBits < Qcow2.MIN_CLUSTER_BITS || clusterBits > Qcow2.MAX_CLUSTER_BITS)
			throw new IllegalArgumentException("cluster bits " + clusterBits + " outside 9..21");
		if (Qcow2.l1Entries(virtualSize, clusterBits) * 8 > Qcow2.MAX_L1_BYTES)
			throw new IllegalArgumentException("L1 table too large: use larger clusters");
		if (backingFile != null) {
			int length = backingFile.getBytes(StandardCharsets.UTF_8).length;
			if (length == 0 || length > Qcow2.MAX_BACKING_NAME
					|| headerBytes(backingFile) > (1 << clusterBits))
				throw new IllegalArgumentException("backing file name does not fit the header cluster: "
						+ backingFile);
		}
		FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
				StandardOpenOption.READ, StandardOpenOption.TRUNCATE_EXISTING);
		// A point is written once and read back rarely: past the page cache where possible.
		DirectIo direct = DirectIo.open(path, StandardOpenOption.WRITE).orElse(null);
		return new Qcow2Writer(ch, direct, virtualSize, clusterBits, backingFile);
	}

	/** Bytes of the header, its extensions and the backing file name. */
	private static int headerBytes(String backingFile) {
		int bytes = Qcow2.HEADER_LENGTH + 8; // end-of-extensions marker
		if (backingFile != null)
			bytes += 16 + backingFile.getBytes(StandardCharsets.UTF_8).length; // format extension, name
		return bytes;
	}

	/** @return the cluster size in bytes */
	public int clusterSize() {
		return clusterSize;
	}

	/** @return guest clusters of the image, the last one possibly partial */
	public long guestClusters() {
		return guestClusters;
	}

	/** @return data clusters written so far */
	public long dataClusters() {
		return dataClusters;
	}

	/** @return zero clusters written so far */
	public long zeroClusters() {
		return zeroClusters;
	}

	/**
	 * Stores whole clusters of data: {@code data.remaining() / clusterSize()}
	 * consecutive guest clusters starting at {@code firstCluster}, in one
	 * write. Guest clusters must come in ascending order across all puts.
	 *
	 * @param firstCluster the first guest cluster
	 * @param data         a multiple of the cluster size; the last cluster of
	 *                     the device is passed whole (padding past the end is ignored by readers)
	 * @throws IOException when the write fails (for example ENOSPC)
	 */
	public void putData(long firstCluster, ByteBuffer data) throws IOException {
		int n = data.remaining() >> clusterBits;
		if (n == 0 || data.remaining() != n << clusterBits)
			throw new IllegalArgumentException("data of " + data.remaining() + " bytes is not whole clusters");
		writeData(data, reserveData(firstCluster, n));
	}

	/**
	 * Maps {@code count} consecutive guest clusters to new host clusters, for
	 * data the caller writes with {@link #writeData} before {@link #finish()}
	 * (from any thread). Guest clusters must come in ascending order across
	 * all puts; the host clusters are consecutive.
	 *
	 * @param firstCluster the first guest cluster
	 * @param count        how many
	 * @return the host offset of the first one
	 * @throws IOException when an L2 table cannot be written
	 */
	public long reserveData(long firstCluster, int count) throws IOException {
		if (count <= 0)
			throw new IllegalArgumentException("data cluster count " + count);
		checkOrder(firstCluster, count);
		long host = end;
		end += (long) count << clusterBits;
		for (int i = 0; i < count; i++)
			setEntry(firstCluster + i, (host + ((long) i << clusterBits)) | Qcow2.OFLAG_COPIED);
		dataClusters += count;
		return host;
	}

	/**
	 * Writes the data of clusters {@link #reserveData reserved} before; safe
	 * from several threads at once. Buffers aligned as {@link DirectIo} wants
	 * go past the page cache when the file system allows it.
	 *
	 * @param data       whole clusters, as many as were reserved at {@code hostOffset}
	 * @param hostOffset what {@link #reserveData} returned
	 * @throws IOException when the write fails (for example ENOSPC)
	 */
	public void writeData(ByteBuffer data, long hostOffset) throws IOException {
		writeFully(data, hostOffset);
	}

	/** @return whether aligned data goes past the page cache (O_DIRECT) */
	public boolean direct() {
		return direct != null;
	}

	/**
	 * Marks guest clusters as reading zeros without storing data (and without
	 * reading the backing file).
	 *
	 * @param firstCluster the first guest cluster
	 * @param count        how many
	 * @throws IOException when an L2 table cannot be written
	 */
	public void putZero(long firstCluster, long count) throws IOException {
		if (count <= 0)
			throw new IllegalArgumentException("zero cluster count " + count);
		checkOrder(firstCluster, count);
		for (long c = firstCluster; c < firstCluster + count; c++)
			setEntry(c, Qcow2.OFLAG_ZERO);
		zeroClusters += count;
	}

	private void checkOrder(long first, long count) {
		if (finished)
			throw new IllegalStateException("image already finished");
		if (first <= lastGuest || first < 0 || first + count > guestClusters)
			throw new IllegalArgumentException("guest clusters " + first + "+" + count + " out of order or range"
					+ " (last " + lastGuest + ", image has " + guestClusters + ")");
		lastGuest = first + count - 1;
	}

	private void setEntry(long guestCluster, long entry) throws IOException {
		long index = guestCluster >>> l2Shift;
		if (index != l2Index) {
			flushL2();
			l2Index = index;
		}
		int slot = (int) (guestCluster & ((1L << l2Shift) - 1));
		l2.putLong(slot * 8, entry);
		l2Used = true;
	}

	/** Appends the current L2 table, if it maps anything, and points L1 at it. */
	private void flushL2() throws IOException {
		if (l2Used) {
			long host = end;
			end += clusterSize;
			writeFully(l2.clear(), host);
			l1[(int) l2Index] = host | Qcow2.OFLAG_COPIED;
		}
		java.util.Arrays.fill(l2.array(), (byte) 0);
		l2Used = false;
	}

	/**
	 * Writes the remaining metadata and the header, and flushes the file to
	 * stable storage. The image is complete and valid only after this.
	 *
	 * @return the size of the file in bytes
	 * @throws IOException when a write or the flush fails
	 */
	public long finish() throws IOException {
		if (finished)
			throw new IllegalStateException("image already finished");
		flushL2();
		finished = true;

		long l1Offset = end;
		long l1Clusters = Math.max(1, Math.ceilDiv(l1.length * 8L, clusterSize));
		ByteBuffer l1Bytes = ByteBuffer.allocate((int) (l1Clusters * clusterSize));
		for (long e : l1)
			l1Bytes.putLong(e);
		writeFully(l1Bytes.flip(), l1Offset);
		end += l1Clusters * clusterSize;

		// The refcount blocks and table count themselves: grow them until
		// they cover every cluster including their own.
		long perBlock = (long) clusterSize * 8 / (1 << Qcow2.REFCOUNT_ORDER);
		long blocks = 0;
		long tableClusters = 0;
		long total;
		while (true) {
			total = end / clusterSize + blocks + tableClusters;
			long needBlocks = Math.ceilDiv(total, perBlock);
			long needTable = Math.ceilDiv(needBlocks * 8, clusterSize);
			if (needBlocks == blocks && needTable == tableClusters)
				break;
			blocks = needBlocks;
			tableClusters = needTable;
		}
		if (tableClusters * clusterSize > Qcow2.MAX_REFTABLE_BYTES)
			throw new IOException("image too large for qcow2's refcount table");
		long blocksOffset = end;
		ByteBuffer block = ByteBuffer.allocate(clusterSize);
		for (long b = 0; b < blocks; b++) {
			block.clear();
			for (long i = 0; i < perBlock; i++)
				block.putShort((short) (b * perBlock + i < total ? 1 : 0));
			writeFully(block.flip(), blocksOffset + b * clusterSize);
		}
		long tableOffset = blocksOffset + blocks * clusterSize;
		ByteBuffer table = ByteBuffer.allocate((int) (tableClusters * clusterSize));
		for (long b = 0; b < blocks; b++)
			table.putLong(blocksOffset + b * clusterSize);
		writeFully(table.clear(), tableOffset);
		end = tableOffset + tableClusters * clusterSize;
		if (end != total * clusterSize)
			throw new IllegalStateException("refcounts cover " + total + " clusters, file has " + end / clusterSize);

		writeFully(header(l1Offset, tableOffset, (int) tableClusters), 0);
		file.force(true);
		return end;
	}

	private ByteBuffer header(long l1Offset, long refcountTableOffset, int refcountTableClusters) {
		ByteBuffer h = ByteBuffer.allocate(clusterSize);
		byte[] name = backingFile == null ? new byte[0] : backingFile.getBytes(StandardCharsets.UTF_8);
		int nameOffset = headerBytes(backingFile) - name.length;
		h.putInt(Qcow2.MAGIC);
		h.putInt(Qcow2.VERSION);
		h.putLong(backingFile == null ? 0 : nameOffset);
		h.putInt(name.length);
		h.putInt(clusterBits);
		h.putLong(virtualSize);
		h.putInt(0); // crypt_method: none
		h.putInt(l1.length);
		h.putLong(l1Offset);
		h.putLong(refcountTableOffset);
		h.putInt(refcountTableClusters);
		h.putInt(0); // nb_snapshots
		h.putLong(0); // snapshots_offset
		h.putLong(0); // incompatible_features: none, in particular not dirty
		h.putLong(0); // compatible_features
		h.putLong(0); // autoclear_features
		h.putInt(Qcow2.REFCOUNT_ORDER);
		h.putInt(Qcow2.HEADER_LENGTH);
		h.put((byte) 0); // compression_type: zlib (unused), then padding to 112
		h.position(Qcow2.HEADER_LENGTH);
		if (backingFile != null) {
			// Name the backing format so that qemu does not probe it.
			h.putInt(Qcow2.EXT_BACKING_FORMAT);
			h.putInt(5);
			h.put("qcow2".getBytes(StandardCharsets.US_ASCII));
			h.position(h.position() + 3);
		}
		h.putInt(Qcow2.EXT_END);
		h.putInt(0);
		h.put(name);
		return h.clear();
	}

	private void writeFully(ByteBuffer data, long position) throws IOException {
		long at = position;
		while (data.hasRemaining()) {
			// Every host range is written once, never through both channels.
			FileChannel ch = direct != null && direct.fits(data, at) ? direct.channel() : file;
			at += ch.write(data, at);
		}
	}

	/** Closes the file; an unfinished image is left incomplete for the caller to delete. */
	@Override
	public void close() throws IOException {
		try {
			file.close();
		} finally {
			if (direct != null)
				direct.close();
		}
	}

	@Override
	public String toString() {
		return "Qcow2Writer[" + virtualSize + " bytes, cluster " + clusterSize
				+ (backingFile == null ? "" : ", backing " + Objects.toString(backingFile)) + "]";
	}
}
