// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import dev.blksnap.backup.io.DirectIo;
import dev.blksnap.backup.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.zip.CRC32C;

/**
 * Re-reads points: the image file is there with the size the manifest
 * recorded, its header agrees with the manifest, the backing point is the
 * one the manifest names (by its checksum), and the checksum of the stored
 * clusters is the one recorded when the point was written. The outcome is
 * kept beside each point ({@code ID.verify.json}).
 */
final class Verifier {
	/** Reads in flight while checksumming. */
	private static final int READERS = 4;
	/** Clusters per read task. */
	private static final int CHUNK = 1 << 20;

	private Verifier() {
	}

	static List<VerifyResult> verify(Repository repo, String id, Progress progress) throws IOException {
		Map<String, Point> todo = new LinkedHashMap<>();
		List<VerifyResult> results = new ArrayList<>();
		for (String problem : repo.unreadableManifests())
			results.add(new VerifyResult("-", "-", false, problem, 0));
		boolean found = false;
		for (Point p : repo.points()) {
			if (id != null && !p.id().equals(id))
				continue;
			found = true;
			List<Point> chain;
			try {
				chain = repo.chain(p);
			} catch (DamagedPointException e) {
				chain = List.of(p);
				results.add(record(repo, p, new VerifyResult(p.device(), p.id(), false, e.getMessage(), 0)));
			}
			for (Point c : chain.reversed())
				todo.putIfAbsent(c.device() + "/" + c.id(), c);
		}
		if (id != null && !found)
			throw new NoSuchPointException(repo.directory() + ": no point has id " + id, null);
		ExecutorService pool = Executors.newFixedThreadPool(READERS,
				Thread.ofPlatform().name("blksnap-verify-", 0).daemon(true).factory());
		try {
			for (Point p : todo.values())
				results.add(record(repo, p, check(repo, p, pool, progress)));
		} finally {
			pool.shutdownNow();
		}
		results.sort(java.util.Comparator.comparing(VerifyResult::device).thenComparing(VerifyResult::id));
		return List.copyOf(results);
	}

	private static VerifyResult record(Repository repo, Point p, VerifyResult r) throws IOException {
		Verification v = new Verification(Instant.now().toString(), r.ok(), r.problem());
		DurableFiles.writeAtomically(repo.deviceDir(p.device()).resolve(p.id() + ".verify.json"), Json.bytes(v));
		return r;
	}

	private static VerifyResult check(Repository repo, Point p, ExecutorService pool, Progress progress) {
		Manifest m = p.manifest();
		long[] read = {0};
		try {
			Optional<String> problem = structure(repo, p);
			if (problem.isEmpty())
				problem = data(p, pool, progress, read);
			return new VerifyResult(p.device(), p.id(), problem.isEmpty(), problem.orElse(null), read[0]);
		} catch (IOException e) {
			return new VerifyResult(p.device(), p.id(), false, m.image().file() + ": " + e.getMessage(), read[0]);
		}
	}

	/** File, header and chain link against the manifest. */
	private static Optional<String> structure(Repository repo, Point p) throws IOException {
		Manifest m = p.manifest();
		Path image = p.image();
		if (!Files.isRegularFile(image))
			return Optional.of("image " + image.getFileName() + " is missing");
		long size = Files.size(image);
		if (size != m.image().fileBytes())
			return Optional.of("image has " + size + " bytes, the manifest recorded " + m.image().fileBytes());
		try (Qcow2Image img = Qcow2Image.open(image)) {
			if (img.virtualSize() != m.image().virtualSize() || img.clusterSize() != m.image().clusterSize())
				return Optional.of("image header says " + img.virtualSize() + " bytes in clusters of "
						+ img.clusterSize() + ", the manifest " + m.image().virtualSize() + " and "
						+ m.image().clusterSize());
			String backing = img.backingFile().orElse(null);
			if (!java.util.Objects.equals(backing, m.image().backingFile()))
				return Optional.of("image names backing file " + backing + ", the manifest " + m.image().backingFile());
		}
		String backingId = m.chain().backing();
		if (backingId != null) {
			Optional<Point> b = repo.readPoint(repo.deviceDir(p.device()), backingId);
			if (b.isEmpty())
				return Optional.of("its backing point " + backingId + " is missing");
			if (!b.get().manifest().checksums().data().equals(m.checksums().backingData()))
				return Optional.of("its backing point " + backingId + " is not the one it was written on "
						+ "(checksum differs)");
		}
		if (!Manifest.Checksums.ALGORITHM.equals(m.checksums().algorithm()))
			return Optional.of("unknown checksum algorithm " + m.checksums().algorithm());
		return Optional.empty();
	}

	/** Recomputes the checksum of the stored clusters, reads in parallel, digest in guest order. */
	private static Optional<String> data(Point p, ExecutorService pool, Progress progress, long[] read)
			throws IOException {
		MessageDigest digest = PointCopier.sha256();
		ByteBuffer rec = ByteBuffer.allocate(13);
		try (Qcow2Image img = Qcow2Image.open(p.image())) {
			int cluster = img.clusterSize();
			int perTask = Math.max(1, CHUNK / cluster);
			progress.begin(p.device() + " " + p.id() + " verify", p.manifest().image().fileBytes());
			// Buffers no task holds: one per task in flight, plus one.
			Deque<ByteBuffer> buffers = new ArrayDeque<>();
			Ordered.Sink<Crcs> sink = done -> {
				buffers.push(done.buffer());
				for (long[] e : done.entries()) {
					digest.update(rec.clear().putLong(e[0]).put((byte) e[1]).putInt((int) e[2]).flip());
					if (e[1] == 1) {
						read[0] += cluster;
						progress.advance(cluster);
					}
				}
			};
			try (Ordered<Crcs> tasks = new Ordered<>(pool, READERS, sink)) {
				List<long[]> batch = new ArrayList<>();
				for (long c = 0; c < img.guestClusters(); c++) {
					switch (img.lookup(c)) {
						case Qcow2Image.Data d -> batch.add(new long[] {c, 1, d.hostOffset()});
						case Qcow2Image.Zero z -> batch.add(new long[] {c, 2, 0});
						case Qcow2Image.Unallocated u -> {
						}
					}
					if (batch.size() >= perTask || c == img.guestClusters() - 1) {
						long[][] b = batch.toArray(long[][]::new);
						batch.clear();
						ByteBuffer buf = buffers.isEmpty() ? DirectIo.buffer(perTask * cluster) : buffers.pop();
						tasks.submit(() -> crcs(img, b, cluster, buf));
					}
				}
				tasks.drain();
			} finally {
				progress.end();
			}
		}
		String got = HexFormat.of().formatHex(digest.digest());
		if (!got.equals(p.manifest().checksums().data()))
			return Optional.of("the stored data does not match the checksum recorded when it was written");
		return Optional.empty();
	}

	/** Entries of a task with the CRCs in place, and its buffer, free again. */
	private record Crcs(long[][] entries, ByteBuffer buffer) {
	}

	/**
	 * On the pool: replaces each data entry's host offset with the CRC-32C of
	 * its cluster; clusters that lie one after the other are read in one
	 * request. {@code buf} holds as many clusters as there are entries.
	 */
	private static Crcs crcs(Qcow2Image img, long[][] entries, int cluster, ByteBuffer buf) throws IOException {
		CRC32C crc = new CRC32C();
		int i = 0;
		while (i < entries.length) {
			if (entries[i][1] != 1) {
				i++;
				continue;
			}
			int j = i + 1;
			while (j < entries.length && entries[j][1] == 1
					&& entries[j][2] == entries[i][2] + (long) (j - i) * cluster)
				j++;
			img.readData(entries[i][2], buf.clear().limit((j - i) * cluster));
			for (int k = i; k < j; k++) {
				crc.reset();
				crc.update(buf.slice((k - i) * cluster, cluster));
				entries[k][2] = (int) crc.getValue();
			}
			i = j;
		}
		return new Crcs(entries, buf);
	}
}
