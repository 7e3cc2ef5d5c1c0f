// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import dev.blksnap.backup.qcow2.Qcow2;
import dev.blksnap.backup.qcow2.Qcow2Writer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * One backup run into a {@link Repository}, holding its lock. {@link #run}
 * copies every device of one instant into a new point each; the points are
 * committed together at the end, or none is when anything fails.
 *
 * <p>Order of a commit, so that a crash at any moment leaves every earlier
 * point intact and no partial point visible: each image is written under a
 * temporary name, flushed and renamed; then each manifest likewise; each
 * rename is made durable with an fsync of its directory.
 */
public final class BackupSession implements AutoCloseable {
	/** The cluster size when there is no change map to follow. */
	static final int DEFAULT_CLUSTER_BITS = 16;

	private final Repository repo;
	private final Repository.Lock lock;
	private final BackupOptions options;
	private final Mounter mounter;

	BackupSession(Repository repo, Repository.Lock lock, BackupOptions options, Mounter mounter) {
		this.repo = repo;
		this.lock = lock;
		this.options = options;
		this.mounter = mounter;
	}

	/** What a device's point will be. */
	private record Decision(PointType type, String reason, Point base, Point full, int since, int clusterBits) {
	}

	/** A copied device, not yet committed. */
	private record Copied(Path image, Path manifestFile, Manifest manifest) {
	}

	/**
	 * Backs up every source into a point with one new id.
	 *
	 * @param sources  the devices, from one instant; names must differ
	 * @param snapshot when the instant was taken
	 * @param progress told about each copy
	 * @return the committed points
	 * @throws SnapshotBrokenException   when an image broke while being read
	 * @throws DestinationFullException  when the repository's file system filled up
	 * @throws IOException               on any other failure; nothing is committed
	 */
	public BackupResult run(List<DeviceSource> sources, Instant snapshot, Progress progress) throws IOException {
		if (sources.isEmpty())
			throw new IllegalArgumentException("no devices to back up");
		Set<String> names = new HashSet<>();
		for (DeviceSource s : sources) {
			if (!names.add(s.identity().name()))
				throw new IllegalArgumentException("device '" + s.identity().name() + "' given twice");
		}
		List<String> set = sources.stream().map(s -> s.identity().name()).toList();
		String id = repo.nextId();
		long start = System.nanoTime();
		List<Path> written = new ArrayList<>();
		List<Copied> copied = new ArrayList<>();
		ExecutorService pool = Executors.newFixedThreadPool(options.readers(),
				Thread.ofPlatform().name("blksnap-read-", 0).daemon(true).factory());
		ExecutorService writePool = Executors.newFixedThreadPool(options.readers(),
				Thread.ofPlatform().name("blksnap-write-", 0).daemon(true).factory());
		try {
			// Every replay before the first copy: a mount that fails costs no copy.
			List<Manifest.Replay> replays = new ArrayList<>();
			for (DeviceSource s : sources)
				replays.add(options.replayJournal() ? JournalReplay.replay(s, mounter) : null);
			for (int i = 0; i < sources.size(); i++) {
				Copied c = copy(sources.get(i), replays.get(i), id, snapshot, set, pool, writePool, progress,
						written);
				copied.add(c);
			}
			List<Point> points = new ArrayList<>();
			for (Copied c : copied) {
				DurableFiles.writeAtomically(c.manifestFile(), Json.bytes(c.manifest()));
				points.add(new Point(c.manifest(), c.image(), Optional.empty()));
			}
			return new BackupResult(id, points, (System.nanoTime() - start) / 1_000_000);
		} catch (IOException | RuntimeException | Error e) {
			// Manifests first: a crash while rolling back must not leave a point without its image.
			for (Path p : written.reversed())
				deleteQuietly(p, e);
			if (DurableFiles.isNoSpace(e) && !(e instanceof DestinationFullException))
				throw new DestinationFullException(repo.directory() + ": the file system is full (ENOSPC): "
						+ "the new point was removed, earlier points are intact; free space or use another "
						+ "directory", e);
			throw e;
		} finally {
			pool.shutdownNow();
			writePool.shutdownNow();
		}
	}

	private Copied copy(DeviceSource source, Manifest.Replay replay, String id, Instant snapshot, List<String> set,
			ExecutorService pool, ExecutorService writePool, Progress progress, List<Path> written)
			throws IOException {
		DeviceIdentity who = source.identity();
		Optional<ChangeMap> map = source.changes();
		Decision d = decide(who, map, replay != null && replay.replayed());
		Path deviceDir = repo.deviceDir(who.name());
		Files.createDirectories(deviceDir);
		Path tmp = deviceDir.resolve("." + id + ".qcow2.tmp");
		Path image = deviceDir.resolve(id + ".qcow2");
		String backingFile = d.base() == null ? null : d.base().manifest().image().file();
		ChangeMap m = map.orElse(null);
		ClusterPlan.Plan plan = ClusterPlan.of(m, d.since(), d.clusterBits(), who.sizeBytes());
		Instant started = Instant.now();
		long t0 = System.nanoTime();
		PointCopier.Result r;
		Holes holes;
		long fileBytes;
		written.add(tmp);
		ImageReader opened;
		try {
			opened = source.openImage();
		} catch (IOException e) {
			source.checkIntact(); // a broken snapshot explains the failure better
			throw e;
		}
		try (ImageReader reader = opened;
				Qcow2Writer w = Qcow2Writer.create(tmp, who.sizeBytes(), d.clusterBits(), backingFile)) {
			try {
				holes = holes(plan, m, d, who.sizeBytes(), reader);
			} catch (IOException e) {
				source.checkIntact();
				throw new IOException(who.path() + ": read of a hole sample failed: " + e.getMessage(), e);
			}
			plan = holes.plan();
			long toRead = Math.min(plan.clusters(ClusterPlan.Kind.READ) << d.clusterBits(), who.sizeBytes());
			progress.begin(who.name() + " " + d.type().label(), toRead);
			try {
				PointCopier copier = new PointCopier(reader, w, who.sizeBytes(), d.type() != PointType.FULL, pool,
						writePool, options.readers(), options.chunkBytes(), progress, source::checkNotBroken);
				r = copier.copy(plan);
			} catch (PointCopier.ReadFailedException e) {
				// A broken snapshot explains the failure better.
				source.checkNotBroken();
				source.checkIntact();
				throw new IOException(who.path() + ": " + e.getMessage(), e);
			} finally {
				progress.end();
			}
			fileBytes = w.finish();
		}
		source.checkIntact();
		written.add(image);
		DurableFiles.commit(tmp, image);
		written.remove(tmp);

		Manifest.Cbt cbt = m == null ? null
				: new Manifest.Cbt(m.generation(), m.blockSize(), m.closedNumber(),
						d.base() == null ? null : d.since(), plan.changedBlocks(), plan.zeroedBlocks(),
						holes.note());
		String full = d.type() == PointType.FULL ? id : d.full().id();
		int depth = d.base() == null ? 1 : d.base().manifest().chain().depth() + 1;
		Manifest manifest = new Manifest(Manifest.FORMAT, id, d.type(), d.reason(), who,
				new Manifest.Image(image.getFileName().toString(), fileBytes, 1 << d.clusterBits(), who.sizeBytes(),
						backingFile),
				cbt, new Manifest.Chain(d.base() == null ? null : d.base().id(), full, depth),
				new Manifest.Stats(r.bytesRead() + holes.bytesRead(), fileBytes,
						holeBytes(plan, d.clusterBits(), who.sizeBytes()), r.dataClusters(), r.zeroClusters(),
						plan.clusters(ClusterPlan.Kind.UNCHANGED), (System.nanoTime() - t0) / 1_000_000),
				new Manifest.Checksums(Manifest.Checksums.ALGORITHM, r.digest(),
						d.base() == null ? null : d.base().manifest().checksums().data()),
				new Manifest.Times(snapshot.toString(), started.toString(), Instant.now().toString()), set, replay);
		Path manifestFile = deviceDir.resolve(id + ".json");
		written.add(manifestFile);
		return new Copied(image, manifestFile, manifest);
	}

	/**
	 * The plan to copy with, after deciding whether its holes are trusted.
	 *
	 * @param plan      the plan
	 * @param note      for the manifest, or null when there were no holes
	 * @param bytesRead bytes the samples read
	 */
	private record Holes(ClusterPlan.Plan plan, String note, long bytesRead) {
	}

	/**
	 * Trusts the plan's holes (stored as zeros, not read) only when the
	 * device reads zeros there, as far as {@link HoleCheck} sees; otherwise,
	 * or with {@link BackupOptions#readHoles()}, reads them as changed data.
	 */
	private Holes holes(ClusterPlan.Plan plan, ChangeMap map, Decision d, long size, ImageReader image)
			throws IOException {
		if (plan.clusters(ClusterPlan.Kind.ZERO) == 0)
			return new Holes(plan, null, 0);
		ClusterPlan.Plan reading = ClusterPlan.of(map.withoutZeroed(), d.since(), d.clusterBits(), size);
		if (options.readHoles())
			return new Holes(reading, plan.zeroedBlocks() + " hole blocks read as data (--read-holes)", 0);
		HoleCheck.Result check = HoleCheck.sample(plan, d.clusterBits(), size, image);
		if (!check.holesReadZeros())
			return new Holes(reading, plan.zeroedBlocks() + " hole blocks read as data: the hole at byte "
					+ check.dataAt() + " does not read zeros (the device keeps discarded data)", check.bytesRead());
		return new Holes(plan, plan.zeroedBlocks() + " hole blocks stored as zeros without reading ("
				+ check.sampled() + " sampled read zeros)", check.bytesRead());
	}

	/** Device bytes in the plan's zero clusters. */
	private static long holeBytes(ClusterPlan.Plan plan, int clusterBits, long size) {
		long bytes = 0;
		for (ClusterPlan.Extent e : plan.extents()) {
			if (e.kind() == ClusterPlan.Kind.ZERO)
				bytes += Math.min((e.first() + e.count()) << clusterBits, size) - (e.first() << clusterBits);
		}
		return bytes;
	}

	/** Full, incremental or differential, and why. */
	private Decision decide(DeviceIdentity who, Optional<ChangeMap> map, boolean replayed) throws IOException {
		int bits = map.map(m -> Qcow2.clusterBitsFor(m.blockSize(), who.sizeBytes()))
				.orElse(Qcow2.clusterBitsFor(1 << DEFAULT_CLUSTER_BITS, who.sizeBytes()));
		List<Point> points = repo.points(who.name());
		if (options.mode() == BackupOptions.Mode.FULL)
			return full("--full was asked for", bits);
		if (points.isEmpty())
			return full("first backup of this device", bits);
		if (replayed)
			return full("the journal was replayed in the image (--replay-journal), and the change map does not "
					+ "know the blocks the replay wrote", bits);
		if (map.isEmpty())
			return full("the device has no change tracker", bits);
		ChangeMap m = map.get();
		if (m.corrupted())
			return full("the change map is marked corrupted", bits);
		Point latest = points.getLast();
		Point base = latest;
		if (options.mode() == BackupOptions.Mode.DIFFERENTIAL) {
			String fullId = latest.manifest().chain().full();
			base = points.stream().filter(p -> p.id().equals(fullId)).findFirst().orElse(null);
			if (base == null)
				return full("the last full point " + fullId + " is missing", bits);
		}
		Manifest bm = base.manifest();
		if (bm.replay() != null && bm.replay().replayed())
			return full("point " + base.id() + " holds a journal replay the device never saw, so changes "
					+ "since it cannot be added to it", bits);
		if (bm.device().sizeBytes() != who.sizeBytes())
			return full("the device size changed from " + bm.device().sizeBytes() + " to " + who.sizeBytes()
					+ " bytes since point " + base.id(), bits);
		if (bm.cbt() == null)
			return full("point " + base.id() + " was taken without change tracking", bits);
		if (!bm.cbt().generation().equals(m.generation()))
			return full("the change-tracking generation changed since point " + base.id()
					+ " (tracker re-attached, device resized or change number wrapped)", bits);
		if (bm.cbt().blockSize() != m.blockSize() || bm.image().clusterSize() != 1 << bits)
			return full("the tracking block size changed since point " + base.id(), bits);
		if (m.closedNumber() <= bm.cbt().closedNumber())
			return full("the change number did not advance since point " + base.id(), bits);
		Optional<String> problem = chainProblem(base);
		if (problem.isPresent())
			return full(problem.get(), bits);
		Point full = base.manifest().type() == PointType.FULL ? base
				: repo.chain(base).getLast();
		PointType type = options.mode() == BackupOptions.Mode.DIFFERENTIAL ? PointType.DIFFERENTIAL
				: PointType.INCREMENTAL;
		return new Decision(type, "blocks changed since point " + base.id() + " (change number "
				+ bm.cbt().closedNumber() + ")", base, full, bm.cbt().closedNumber(), bits);
	}

	private static Decision full(String reason, int bits) {
		return new Decision(PointType.FULL, reason, null, null, -1, bits);
	}

	/** Why a point cannot be built upon: a point of its chain missing, truncated or failed to verify. */
	private Optional<String> chainProblem(Point base) throws IOException {
		List<Point> chain;
		try {
			chain = repo.chain(base);
		} catch (DamagedPointException e) {
			return Optional.of("the chain of point " + base.id() + " is broken: " + e.getMessage());
		}
		for (Point p : chain) {
			if (!Files.isRegularFile(p.image()))
				return Optional.of("point " + p.id() + " is missing its image " + p.image().getFileName());
			long size = Files.size(p.image());
			if (size != p.manifest().image().fileBytes())
				return Optional.of("point " + p.id() + "'s image has " + size + " bytes, its manifest says "
						+ p.manifest().image().fileBytes());
			if (p.verification().isPresent() && !p.verification().get().ok())
				return Optional.of("point " + p.id() + " failed its last verify");
		}
		return Optional.empty();
	}

	private static void deleteQuietly(Path p, Throwable failure) {
		try {
			Files.deleteIfExists(p);
		} catch (IOException e) {
			failure.addSuppressed(e);
		}
	}

	/** Releases the lock. */
	@Override
	public void close() throws IOException {
		lock.close();
	}
}
