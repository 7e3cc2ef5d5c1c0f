// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import dev.blksnap.DeviceId;
import dev.blksnap.backup.qcow2.Qcow2Image;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Writes a point's device image to a file or block device. This thread
 * resolves each guest cluster through the chain (top point first); pool
 * threads read and write runs of clusters, several in flight, in any order.
 * A new file is sized first and only non-zero clusters are written, so
 * ranges that read zeros stay holes. On a device, a zero range is read
 * first and written only where it does not already read zeros.
 */
final class Restorer {
	/** Guest bytes per task. */
	private static final int CHUNK = 1 << 20;

	private final Repository repo;
	private final List<Point> chain;
	private final Path target;
	private final int readers;
	private final Progress progress;
	private final AtomicLong bytesRead = new AtomicLong();
	private final AtomicLong bytesWritten = new AtomicLong();
	private final AtomicLong zeroBytes = new AtomicLong();

	Restorer(Repository repo, List<Point> chain, Path target, int readers, Progress progress) {
		if (readers < 1 || readers > 64)
			throw new IllegalArgumentException("readers " + readers + " outside 1..64");
		this.repo = repo;
		this.chain = chain;
		this.target = target;
		this.readers = readers;
		this.progress = progress;
	}

	/** Where one guest cluster's bytes come from: an image of the chain and an offset in it, or zeros. */
	private record Source(int image, long host) {
	}

	RestoreResult run() throws IOException {
		Point top = chain.getFirst();
		long size = top.manifest().device().sizeBytes();
		long t0 = System.nanoTime();
		List<Qcow2Image> images = new ArrayList<>();
		try {
			for (Point p : chain)
				images.add(open(p, images.isEmpty() ? null : chain.get(images.size() - 1)));
			boolean device = isBlockDevice(target);
			try (FileChannel out = device ? openDevice(size) : createFile(size)) {
				copy(images, out, size, device);
				out.force(true);
			}
		} finally {
			for (Qcow2Image i : images)
				i.close();
		}
		return new RestoreResult(top.device(), top.id(), target, size, bytesRead.get(), bytesWritten.get(),
				zeroBytes.get(), (System.nanoTime() - t0) / 1_000_000);
	}

	/** Opens a chain member and checks it against its manifest and its place in the chain. */
	private Qcow2Image open(Point p, Point above) throws IOException {
		if (!Files.isRegularFile(p.image()))
			throw new DamagedPointException(repo.directory() + ": point " + p.id() + " of '" + p.device()
					+ "' is missing its image " + p.image().getFileName(), null);
		Qcow2Image img = Qcow2Image.open(p.image());
		Manifest.Image m = p.manifest().image();
		String problem = null;
		if (img.virtualSize() != m.virtualSize() || img.clusterSize() != m.clusterSize())
			problem = "its image's size or cluster size differs from its manifest";
		else if (!img.backingFile().orElse("").equals(m.backingFile() == null ? "" : m.backingFile()))
			problem = "its image names backing file '" + img.backingFile().orElse("") + "', its manifest '"
					+ m.backingFile() + "'";
		else if (above != null && img.virtualSize() != above.manifest().image().virtualSize())
			problem = "its size differs from point " + above.id() + "'s";
		if (problem != null) {
			img.close();
			throw new DamagedPointException(repo.directory() + ": point " + p.id() + " of '" + p.device() + "': "
					+ problem, null);
		}
		return img;
	}

	private static boolean isBlockDevice(Path p) throws IOException {
		if (!Files.exists(p))
			return false;
		int mode = (Integer) Files.getAttribute(p, "unix:mode");
		return (mode & 0170000) == 0060000;
	}

	private FileChannel createFile(long size) throws IOException {
		if (Files.exists(target))
			throw new FileAlreadyExistsException(target.toString(), null,
					"exists; restore to a new file or a block device");
		// setLength extends without writing: the file starts as one hole.
		try (RandomAccessFile f = new RandomAccessFile(Files.createFile(target).toFile(), "rw")) {
			f.setLength(size);
		}
		return FileChannel.open(target, StandardOpenOption.WRITE, StandardOpenOption.READ);
	}

	private FileChannel openDevice(long size) throws IOException {
		DeviceId id = DeviceId.of(target);
		Path sysfs = Path.of("/sys/dev/block", id.toString(), "size");
		long deviceBytes = Long.parseLong(Files.readString(sysfs).trim()) * 512;
		if (deviceBytes < size)
			throw new IOException(target + ": the device has " + deviceBytes + " bytes, the point needs " + size);
		return FileChannel.open(target, StandardOpenOption.WRITE, StandardOpenOption.READ);
	}

	private void copy(List<Qcow2Image> images, FileChannel out, long size, boolean device) throws IOException {
		int cluster = images.getFirst().clusterSize();
		for (Qcow2Image i : images) {
			if (i.clusterSize() != cluster)
				throw new DamagedPointException(i.path() + ": its cluster size differs from the rest of the chain",
						null);
		}
		int perChunk = Math.max(1, CHUNK / cluster);
		long clusters = images.getFirst().guestClusters();
		ExecutorService pool = Executors.newFixedThreadPool(readers,
				Thread.ofPlatform().name("blksnap-restore-", 0).daemon(true).factory());
		progress.begin(chain.getFirst().device() + " restore", size);
		try (Ordered<Long> tasks = new Ordered<>(pool, readers, progress::advance)) {
			for (long c = 0; c < clusters; c += perChunk) {
				int n = (int) Math.min(perChunk, clusters - c);
				Source[] sources = new Source[n];
				for (int i = 0; i < n; i++)
					sources[i] = resolve(images, c + i);
				long first = c;
				tasks.submit(() -> restoreChunk(images, out, first, sources, cluster, size, device));
			}
			tasks.drain();
		} finally {
			progress.end();
			pool.shutdownNow();
		}
	}

	/** The first image of the chain that holds the cluster, or null for zeros. */
	private static Source resolve(List<Qcow2Image> images, long cluster) throws IOException {
		for (int i = 0; i < images.size(); i++) {
			switch (images.get(i).lookup(cluster)) {
				case Qcow2Image.Data d -> {
					return new Source(i, d.hostOffset());
				}
				case Qcow2Image.Zero z -> {
					return null;
				}
				case Qcow2Image.Unallocated u -> {
				}
			}
		}
		return null;
	}

	/** On the pool: reads the chunk's clusters and writes what is not zero; returns guest bytes done. */
	private long restoreChunk(List<Qcow2Image> images, FileChannel out, long first, Source[] sources, int cluster,
			long size, boolean device) throws IOException {
		int n = sources.length;
		ByteBuffer buf = ByteBuffer.allocateDirect(n * cluster);
		MemorySegment all = MemorySegment.ofBuffer(buf);
		boolean[] zero = new boolean[n];
		MemorySegment zeros = MemorySegment.ofArray(new byte[cluster]);
		for (int i = 0; i < n; i++) {
			if (sources[i] == null) {
				zero[i] = true;
				continue;
			}
			ByteBuffer dst = buf.slice(i * cluster, cluster);
			images.get(sources[i].image()).readCluster(new Qcow2Image.Data(sources[i].host()), dst);
			bytesRead.addAndGet(cluster);
			zero[i] = all.asSlice((long) i * cluster, cluster).mismatch(zeros) < 0;
		}
		long start = first * cluster;
		long chunkBytes = Math.min((long) n * cluster, size - start);
		int i = 0;
		while (i < n) {
			int j = i;
			while (j < n && zero[j] == zero[i])
				j++;
			long at = start + (long) i * cluster;
			int len = (int) Math.min((long) (j - i) * cluster, size - at);
			if (!zero[i]) {
				write(out, buf.slice(i * cluster, len), at);
			} else {
				zeroBytes.addAndGet(len);
				if (device)
					zeroOnDevice(out, at, len);
			}
			i = j;
		}
		return chunkBytes;
	}

	/** Writes zeros over a device range unless it already reads zeros. */
	private void zeroOnDevice(FileChannel out, long at, int len) throws IOException {
		ByteBuffer current = ByteBuffer.allocateDirect(len);
		long pos = at;
		while (current.hasRemaining()) {
			int r = out.read(current, pos);
			if (r < 0)
				break;
			pos += r;
		}
		MemorySegment seg = MemorySegment.ofBuffer(current.flip());
		if (seg.mismatch(MemorySegment.ofArray(new byte[len])) < 0)
			return;
		write(out, ByteBuffer.allocateDirect(len), at);
	}

	private void write(FileChannel out, ByteBuffer data, long at) throws IOException {
		long pos = at;
		int n = data.remaining();
		while (data.hasRemaining())
			pos += out.write(data, pos);
		bytesWritten.addAndGet(n);
	}
}
