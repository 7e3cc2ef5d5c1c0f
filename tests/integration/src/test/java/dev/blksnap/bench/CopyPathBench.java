// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.bench;

import dev.blksnap.backup.BackupOptions;
import dev.blksnap.backup.BackupResult;
import dev.blksnap.backup.BackupSession;
import dev.blksnap.backup.ChangeMap;
import dev.blksnap.backup.DeviceIdentity;
import dev.blksnap.backup.DeviceSource;
import dev.blksnap.backup.FileImageReader;
import dev.blksnap.backup.ImageReader;
import dev.blksnap.backup.Progress;
import dev.blksnap.backup.Repository;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.UUID;

/**
 * The copy path alone, without a snapshot: a full backup of a file or raw
 * device by the engine, and the restore of it to a file, against {@code dd}
 * of the same source to the same destination, alternating which goes first,
 * in one JVM. Runs on the build
 * host or in a VM ({@code tests/bench/bench-copy-path}). A benchmark: it
 * prints medians and asserts nothing.
 *
 * <p>Environment: {@code BENCH_DIR} (destination directory, required),
 * {@code BENCH_SOURCE} (a file or device to read; default: a file of
 * {@code BENCH_SIZE_MIB} MiB, 512 by default, made in BENCH_DIR),
 * {@code BENCH_FILL=1} (fill BENCH_SOURCE with the test pattern first),
 * {@code BENCH_DROP_CACHES=1} (drop the page cache before each copy, so that
 * both read the source from its device), {@code BENCH_ROUNDS} (default 7),
 * {@code BENCH_DIRECT=0} (read a device through the page cache),
 * {@code BENCH_BLOCK} (change-map block size, that is the cluster size;
 * default 65536), {@code BENCH_READERS}, {@code BENCH_CHUNK}.
 */
public final class CopyPathBench {
	private CopyPathBench() {
	}

	public static void main(String[] args) throws Exception {
		Path dir = Path.of(System.getenv("BENCH_DIR"));
		String given = System.getenv("BENCH_SOURCE");
		long size = Long.parseLong(System.getenv().getOrDefault("BENCH_SIZE_MIB", "512")) << 20;
		int rounds = Integer.parseInt(System.getenv().getOrDefault("BENCH_ROUNDS", "7"));
		int block = Integer.parseInt(System.getenv().getOrDefault("BENCH_BLOCK", "65536"));
		BackupOptions options = new BackupOptions(BackupOptions.Mode.FULL,
				Integer.parseInt(System.getenv().getOrDefault("BENCH_READERS", "" + BackupOptions.DEFAULT_READERS)),
				Integer.parseInt(System.getenv().getOrDefault("BENCH_CHUNK", "" + BackupOptions.DEFAULT_CHUNK)));
		Files.createDirectories(dir);
		Path image = given == null ? dir.resolve("source.raw") : Path.of(given);
		if (given == null || "1".equals(System.getenv("BENCH_FILL")))
			fill(image, size);
		else
			size = sizeOf(image);
		boolean drop = "1".equals(System.getenv("BENCH_DROP_CACHES"));
		DeviceSource source = new FileSource(image, size, block, !"0".equals(System.getenv("BENCH_DIRECT")));
		try (ImageReader r = source.openImage()) {
			System.out.printf("bench-copy-path: %d MiB, %d rounds, cluster %d, %s, %s%n", size >> 20, rounds, block,
					options, r);
		}
		CopyBench.Figures f = new CopyBench.Figures("backup", "restore", "dd");
		Path repoDir = dir.resolve("repo");
		Path restored = dir.resolve("restored.raw");
		for (int round = 0; round < rounds + 1; round++) {
			CopyBench.Rate backup = null, restore = null, dd = null;
			// Alternate which goes first, so that drift within a round cancels out.
			for (int k = 0; k < 2; k++) {
				if ((k == 0) == (round % 2 == 0)) {
					if (drop)
						CopyBench.dropCaches();
					backup = backup(repoDir, source, options, size);
					if (drop)
						CopyBench.dropCaches();
					restore = restore(repoDir, restored, size);
					CopyBench.deleteTree(repoDir);
				} else {
					if (drop)
						CopyBench.dropCaches();
					dd = CopyBench.dd(image, dir.resolve("dd.raw"), size);
				}
			}
			if (round > 0) // the first round warms the JIT up
				f.add(backup, restore, dd);
		}
		f.print("full backup and restore vs dd");
		if (given == null)
			Files.delete(image);
	}

	private static long sizeOf(Path p) throws IOException {
		try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
			return ch.size();
		}
	}

	/** Random data with every eighth MiB zero, in the page cache like a just-written file. */
	private static void fill(Path image, long size) throws IOException {
		SplittableRandom rnd = new SplittableRandom(42);
		byte[] b = new byte[1 << 20];
		try (FileChannel ch = Files.isRegularFile(image) || !Files.exists(image)
				? FileChannel.open(image, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
						StandardOpenOption.TRUNCATE_EXISTING)
				: FileChannel.open(image, StandardOpenOption.WRITE)) {
			for (long at = 0; at < size; at += b.length) {
				if ((at >> 20) % 8 == 7)
					java.util.Arrays.fill(b, (byte) 0);
				else
					rnd.nextBytes(b);
				ByteBuffer buf = ByteBuffer.wrap(b);
				while (buf.hasRemaining())
					ch.write(buf);
			}
			ch.force(true);
		}
	}

	/** One full backup into a new repository. */
	private static CopyBench.Rate backup(Path repoDir, DeviceSource source, BackupOptions options, long size)
			throws IOException {
		CopyBench.deleteTree(repoDir);
		CopyBench.Cpu c0 = CopyBench.Cpu.now();
		long t0 = System.nanoTime();
		BackupResult r;
		try (BackupSession s = Repository.create(repoDir).beginBackup(options)) {
			r = s.run(List.of(source), Instant.now(), Progress.NONE);
		}
		long ns = System.nanoTime() - t0;
		CopyBench.Cpu c1 = CopyBench.Cpu.now();
		if (r.points().size() != 1)
			throw new IllegalStateException("expected one point: " + r);
		return CopyBench.Rate.of(size, ns, CopyBench.Cpu.since(c0.self(), c1.self()));
	}

	/** The restore of that point to a new file, flushed, then removed. */
	private static CopyBench.Rate restore(Path repoDir, Path restored, long size) throws IOException {
		Files.deleteIfExists(restored);
		CopyBench.Cpu c0 = CopyBench.Cpu.now();
		long t0 = System.nanoTime();
		Repository.open(repoDir).restore("bench", null, restored, BackupOptions.DEFAULT_READERS, Progress.NONE);
		long ns = System.nanoTime() - t0;
		CopyBench.Cpu c1 = CopyBench.Cpu.now();
		Files.delete(restored);
		return CopyBench.Rate.of(size, ns, CopyBench.Cpu.since(c0.self(), c1.self()));
	}

	/** A file with a change map that marks every block (a full backup reads all of it anyway). */
	private record FileSource(Path image, long size, int block, boolean direct) implements DeviceSource {
		@Override
		public DeviceIdentity identity() {
			return new DeviceIdentity("bench", image.toString(), "0:0", size, null);
		}

		@Override
		public Optional<ChangeMap> changes() {
			byte[] numbers = new byte[(int) Math.ceilDiv(size, block)];
			java.util.Arrays.fill(numbers, (byte) 1);
			return Optional.of(ChangeMap.of(new UUID(0, 1), block, 1, numbers));
		}

		@Override
		public ImageReader openImage() throws IOException {
			return direct ? FileImageReader.open(image) : FileImageReader.open(image, false);
		}

		@Override
		public void checkIntact() {
		}
	}
}
