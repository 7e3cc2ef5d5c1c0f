// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import dev.blksnap.DeviceId;
import dev.blksnap.backup.io.DirectIo;
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
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Writes a point's device image to a file or block device. This thread
 * resolves each guest cluster through the chain (top point first); pool
 * threads read and write chunks of clusters, several in flight, in any
 * order; clusters that lie one after the other in one point are read in one
 * request. Aligned transfers bypass the page cache where the file system
 * allows it ({@link DirectIo}).
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
				// Past the page cache where the target allows it: the restored image is written once.
				DirectIo direct = DirectIo.open(target, StandardOpenOption.WRITE, StandardOpenOption.READ)
						.orElse(null);
				try {
					copy(images, out, direct, size, device);
				} finally {
					if (direct != null)
						direct.close();
				}
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

	private void copy(List<Qcow2Image> images, FileChannel out, DirectIo direct, long size, boolean device)
			throws IOException {
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
		// Buffers no task holds; one per task in flight, plus one.
		Deque<ByteBuffer> buffers = new ArrayDeque<>();
		Target to = new Target(out, direct, size, device, cluster);
		progress.begin(chain.getFirst().device() + " restore", size);
		try (Ordered<Done> tasks = new Ordered<>(pool, readers, done -> {
			buffers.push(done.buffer());
			progress.advance(done.bytes());
		})) {
			for (long c = 0; c < clusters; c += perChunk) {
				int n = (int) Math.min(perChunk, clusters - c);
				Source[] sources = new Source[n];
				for (int i = 0; i < n; i++)
					sources[i] = resolve(images, c + i);
				long first = c;
				ByteBuffer buffer = buffers.isEmpty() ? DirectIo.buffer(perChunk * cluster) : buffers.pop();
				tasks.submit(() -> restoreChunk(images, to, first, sources, buffer));
			}
			tasks.drain();
		} finally {
			progress.end();
			pool.shutdownNow();
		}
	}

	/** Where restored bytes go. */
	private record Target(FileChannel out, DirectIo direct, long size, boolean device, int cluster) {
		/** The channel for a transfer: O_DIRECT when the buffer and offset allow it. */
		FileChannel channel(ByteBuffer data, long at) {
			return direct != null && direct.fits(data, at) ? direct.channel() : out;
		}
	}

	/** A chunk done: its buffer, free again, and the guest bytes it covered. */
	private record Done(ByteBuffer buffer, long bytes) {
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

	/**
	 * On the pool: reads the chunk's clusters, each run that lies one after
	 * the other in one image in a single request, and writes what is not zero.
	 */
	private Done restoreChunk(List<Qcow2Image> images, Target to, long first, Source[] sources, ByteBuffer buf)
			throws IOException {
		int cluster = to.cluster();
		int n = sources.length;
		MemorySegment all = MemorySegment.ofBuffer(buf.clear());
		MemorySegment zeros = MemorySegment.ofArray(new byte[cluster]);
		boolean[] zero = new boolean[n];
		int i = 0;
		while (i < n) {
			Source s = sources[i];
			if (s == null) {
				zero[i++] = true;
				continue;
			}
			int j = i + 1;
			while (j < n && sources[j] != null && sources[j].image() == s.image()
					&& sources[j].host() == s.host() + (long) (j - i) * cluster)
				j++;
			images.get(s.image()).readData(s.host(), buf.slice(i * cluster, (j - i) * cluster));
			bytesRead.addAndGet((long) (j - i) * cluster);
			for (int k = i; k < j; k++)
				zero[k] = all.asSlice((long) k * cluster, cluster).mismatch(zeros) < 0;
			i = j;
		}
		long start = first * cluster;
		i = 0;
		while (i < n) {
			int j = i;
			while (j < n && zero[j] == zero[i])
				j++;
			long at = start + (long) i * cluster;
			int len = (int) Math.min((long) (j - i) * cluster, to.size() - at);
			ByteBuffer range = buf.slice(i * cluster, len);
			if (!zero[i]) {
				write(to, range, at);
			} else {
				zeroBytes.addAndGet(len);
				if (to.device())
					zeroOnDevice(to, range, at);
			}
			i = j;
		}
		return new Done(buf, Math.min((long) n * cluster, to.size() - start));
	}

	/** Writes zeros over a device range unless it already reads zeros; {@code range} is scratch space. */
	private void zeroOnDevice(Target to, ByteBuffer range, long at) throws IOException {
		long pos = at;
		while (range.hasRemaining()) {
			int r = to.channel(range, pos).read(range, pos);
			if (r < 0)
				break;
			pos += r;
		}
		MemorySegment seg = MemorySegment.ofBuffer(range.flip());
		if (seg.mismatch(MemorySegment.ofArray(new byte[range.remaining()])) < 0)
			return;
		seg.fill((byte) 0);
		write(to, range, at);
	}

	private void write(Target to, ByteBuffer data, long at) throws IOException {
		long pos = at;
		int n = data.remaining();
		while (data.hasRemaining())
			pos += to.channel(data, pos).write(data, pos);
		bytesWritten.addAndGet(n);
	}
}
