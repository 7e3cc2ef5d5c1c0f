// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup.qcow2;

import dev.blksnap.backup.io.DirectIo;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A qcow2 image opened for reading: the header, the L1 table, and L2 tables
 * loaded on demand. Reads the subset {@link Qcow2} describes (version 2 or
 * 3); images that need more (compression, encryption, external data,
 * extended L2 entries, a dirty or corrupt flag) are refused.
 *
 * <p>{@link #lookup(long)} is for one thread at a time (it caches L2
 * tables); {@link #readData} may be called from several threads.
 */
public final class Qcow2Image implements Closeable {
	/** Where a guest cluster's content comes from in this image alone. */
	public sealed interface Cluster {
	}

	/** Not in this image: the backing file has it, or it reads zeros. */
	public record Unallocated() implements Cluster {
	}

	/** Reads as zeros. */
	public record Zero() implements Cluster {
	}

	/**
	 * Stored here.
	 *
	 * @param hostOffset where in the file
	 */
	public record Data(long hostOffset) implements Cluster {
	}

	private static final Cluster UNALLOCATED = new Unallocated();
	private static final Cluster ZERO = new Zero();
	/** L2 tables kept in memory; lookups walk the guest in order, so a few suffice. */
	private static final int L2_CACHE = 16;

	private final Path path;
	private final FileChannel file;
	/** The file opened with O_DIRECT as well, or null. */
	private final DirectIo direct;
	private final long fileSize;
	private final int clusterBits;
	private final long virtualSize;
	private final String backingFile;
	private final String backingFormat;
	private final long[] l1;
	private final Map<Long, long[]> l2Cache = new LinkedHashMap<>(L2_CACHE, 0.75f, true) {
		private static final long serialVersionUID = 1L;

		@Override
		protected boolean removeEldestEntry(Map.Entry<Long, long[]> eldest) {
			return size() > L2_CACHE;
		}
	};

	private Qcow2Image(Path path, FileChannel file, DirectIo direct, long fileSize, int clusterBits, long virtualSize,
			String backingFile, String backingFormat, long[] l1) {
		this.path = path;
		this.file = file;
		this.direct = direct;
		this.fileSize = fileSize;
		this.clusterBits = clusterBits;
		this.virtualSize = virtualSize;
		this.backingFile = backingFile;
		this.backingFormat = backingFormat;
		this.l1 = l1;
	}

	/**
	 * Opens and checks the header.
	 *
	 * @param path the image file
	 * @return the open image
	 * @throws IOException when the file cannot be read or is not an image this
	 *                     reader understands (the message says why)
	 */
	public static Qcow2Image open(Path path) throws IOException {
		FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
		try {
			return parse(path, ch);
		} catch (IOException | RuntimeException e) {
			ch.close();
			throw e;
		}
	}

	private static Qcow2Image parse(Path path, FileChannel ch) throws IOException {
		long fileSize = ch.size();
		ByteBuffer h = ByteBuffer.allocate(Qcow2.HEADER_LENGTH);
		readFully(ch, h, 0, path);
		h.flip();
		if (h.getInt(0) != Qcow2.MAGIC)
			throw bad(path, "not a qcow2 image (bad magic)");
		int version = h.getInt(4);
		if (version != 2 && version != 3)
			throw bad(path, "qcow2 version " + version + " is not supported");
		long backingOffset = h.getLong(8);
		int backingSize = h.getInt(16);
		int clusterBits = h.getInt(20);
		long virtualSize = h.getLong(24);
		int crypt = h.getInt(32);
		int l1Size = h.getInt(36);
		long l1Offset = h.getLong(40);
		int headerLength = 72;
		if (clusterBits < Qcow2.MIN_CLUSTER_BITS || clusterBits > Qcow2.MAX_CLUSTER_BITS)
			throw bad(path, "cluster bits " + clusterBits + " out of range");
		if (crypt != 0)
			throw bad(path, "encrypted images are not supported");
		if (h.getInt(60) != 0)
			throw bad(path, "internal snapshots are not supported");
		if (version == 3) {
			long incompatible = h.getLong(72);
			if (incompatible != 0)
				throw bad(path, "incompatible features 0x" + Long.toHexString(incompatible)
						+ " set (dirty, corrupt, external data, compression or extended L2)");
			if (h.getInt(96) != Qcow2.REFCOUNT_ORDER)
				throw bad(path, "refcount order " + h.getInt(96) + " is not supported");
			headerLength = h.getInt(100);
			if (headerLength < 104 || headerLength % 8 != 0)
				throw bad(path, "header length " + headerLength + " invalid");
		}
		long clusterSize = 1L << clusterBits;
		if (virtualSize < 0 || l1Size < 0 || l1Size < Qcow2.l1Entries(virtualSize, clusterBits)
				|| (long) l1Size * 8 > Qcow2.MAX_L1_BYTES)
			throw bad(path, "L1 table of " + l1Size + " entries does not map " + virtualSize + " bytes");
		if (l1Offset % clusterSize != 0 || l1Offset + l1Size * 8L > fileSize)
			throw bad(path, "L1 table outside the file");

		String backingFormat = null;
		if (version == 3)
			backingFormat = extensions(path, ch, headerLength, clusterSize);
		String backingFile = null;
		if (backingOffset != 0) {
			if (backingSize <= 0 || backingSize > Qcow2.MAX_BACKING_NAME || backingOffset + backingSize > clusterSize)
				throw bad(path, "backing file name outside the header cluster");
			ByteBuffer name = ByteBuffer.allocate(backingSize);
			readFully(ch, name, backingOffset, path);
			backingFile = new String(name.array(), StandardCharsets.UTF_8);
		}

		ByteBuffer l1Bytes = ByteBuffer.allocate(l1Size * 8);
		readFully(ch, l1Bytes, l1Offset, path);
		long[] l1 = new long[l1Size];
		l1Bytes.flip().asLongBuffer().get(l1);
		// Points are read once per restore or verify: past the page cache where possible.
		DirectIo direct = DirectIo.open(path, StandardOpenOption.READ).orElse(null);
		return new Qcow2Image(path, ch, direct, fileSize, clusterBits, virtualSize, backingFile, backingFormat, l1);
	}

	/** Walks the header extensions; returns the backing format, if named. */
	private static String extensions(Path path, FileChannel ch, int headerLength, long clusterSize)
			throws IOException {
		String format = null;
		long at = headerLength;
		ByteBuffer ext = ByteBuffer.allocate(8);
		while (true) {
			if (at + 8 > clusterSize)
				throw bad(path, "header extensions run past the first cluster");
			readFully(ch, ext.clear(), at, path);
			int type = ext.getInt(0);
			int length = ext.getInt(4);
			if (type == Qcow2.EXT_END)
				return format;
			if (length < 0 || at + 8 + length > clusterSize)
				throw bad(path, "header extension 0x" + Integer.toHexString(type) + " too long");
			if (type == Qcow2.EXT_BACKING_FORMAT) {
				ByteBuffer name = ByteBuffer.allocate(length);
				readFully(ch, name, at + 8, path);
				format = new String(name.array(), StandardCharsets.UTF_8);
			}
			at += 8 + (length + 7L) / 8 * 8;
		}
	}

	/** @return the file */
	public Path path() {
		return path;
	}

	/** @return the guest size in bytes */
	public long virtualSize() {
		return virtualSize;
	}

	/** @return the cluster size in bytes */
	public int clusterSize() {
		return 1 << clusterBits;
	}

	/** @return guest clusters, the last one possibly partial */
	public long guestClusters() {
		return Math.ceilDiv(virtualSize, clusterSize());
	}

	/** @return the backing file name as stored (relative to this image's directory), if any */
	public Optional<String> backingFile() {
		return Optional.ofNullable(backingFile);
	}

	/** @return the backing file's format as stored in the header, if named */
	public Optional<String> backingFormat() {
		return Optional.ofNullable(backingFormat);
	}

	/**
	 * Where a guest cluster's content is in this image alone.
	 *
	 * @param guestCluster 0 .. {@link #guestClusters()} - 1
	 * @return unallocated, zero or data
	 * @throws IOException when an L2 table cannot be read or an entry is invalid
	 */
	public Cluster lookup(long guestCluster) throws IOException {
		if (guestCluster < 0 || guestCluster >= guestClusters())
			throw new IndexOutOfBoundsException("guest cluster " + guestCluster + " of " + guestClusters());
		int shift = clusterBits - 3;
		long index = guestCluster >>> shift;
		long l1Entry = l1[(int) index];
		long l2Offset = l1Entry & Qcow2.OFFSET_MASK;
		if (l2Offset == 0)
			return UNALLOCATED;
		long[] table = l2Cache.get(index);
		if (table == null) {
			if (l2Offset + clusterSize() > fileSize)
				throw bad(path, "L2 table at " + l2Offset + " outside the file");
			ByteBuffer b = ByteBuffer.allocate(clusterSize());
			readFully(file, b, l2Offset, path);
			table = new long[clusterSize() / 8];
			b.flip().asLongBuffer().get(table);
			l2Cache.put(index, table);
		}
		long entry = table[(int) (guestCluster & ((1L << shift) - 1))];
		if ((entry & Qcow2.OFLAG_COMPRESSED) != 0)
			throw bad(path, "compressed cluster " + guestCluster + " is not supported");
		long host = entry & Qcow2.OFFSET_MASK;
		if ((entry & Qcow2.OFLAG_ZERO) != 0)
			return ZERO;
		if (host == 0)
			return UNALLOCATED;
		if (host % clusterSize() != 0 || host + clusterSize() > fileSize + clusterSize())
			throw bad(path, "cluster " + guestCluster + " maps outside the file (" + host + ")");
		return new Data(host);
	}

	/**
	 * Reads one stored cluster; bytes past the end of the file read as zeros.
	 *
	 * @param data where the cluster is
	 * @param dst  receives {@code dst.remaining()} bytes, at most a cluster
	 * @throws IOException when the read fails
	 */
	public void readCluster(Data data, ByteBuffer dst) throws IOException {
		readData(data.hostOffset(), dst);
	}

	/**
	 * Reads stored clusters that lie one after the other in the file, in one
	 * request; bytes past the end of the file read as zeros. Aligned buffers
	 * ({@link DirectIo#buffer}) are read past the page cache where the file
	 * system allows it. Safe from several threads.
	 *
	 * @param hostOffset where the first cluster is
	 * @param dst        receives {@code dst.remaining()} bytes
	 * @throws IOException when the read fails
	 */
	public void readData(long hostOffset, ByteBuffer dst) throws IOException {
		long at = hostOffset;
		while (dst.hasRemaining()) {
			FileChannel ch = direct != null && direct.fits(dst, at) ? direct.channel() : file;
			int n = ch.read(dst, at);
			if (n < 0) {
				while (dst.hasRemaining())
					dst.put((byte) 0);
				return;
			}
			at += n;
		}
	}

	private static void readFully(FileChannel ch, ByteBuffer dst, long position, Path path) throws IOException {
		long at = position;
		while (dst.hasRemaining()) {
			int n = ch.read(dst, at);
			if (n < 0)
				throw new EOFException(path + ": truncated qcow2 image (ends before byte " + (at + dst.remaining())
						+ ")");
			at += n;
		}
	}

	private static IOException bad(Path path, String problem) {
		return new IOException(path + ": " + problem);
	}

	@Override
	public void close() throws IOException {
		try {
			file.close();
		} finally {
			if (direct != null)
				direct.close();
		}
	}
}
