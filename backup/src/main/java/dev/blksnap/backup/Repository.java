// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A backup directory: one subdirectory per device holding its points,
 * {@code ID.qcow2} (the image) and {@code ID.json} (the manifest, written
 * last: a point exists once its manifest does), and {@code ID.verify.json}
 * after a verify. Files being written carry a hidden temporary name. One
 * backup at a time holds {@code .lock}; listing, restore and verify only
 * read committed points and need no lock.
 *
 * <pre>{@code
 * Repository repo = Repository.create(Path.of("/backup"));
 * try (BackupSession s = repo.beginBackup(BackupOptions.of(Mode.AUTO))) {
 *     BackupResult r = s.run(List.of(source), Progress.NONE);
 * }
 * repo.restore("vdb", null, Path.of("/tmp/vdb.img"), RestoreOptions.DEFAULT, Progress.NONE);
 * }</pre>
 */
public final class Repository {
	static final String LOCK = ".lock";
	private static final Pattern MANIFEST = Pattern.compile("([0-9]{6})\\.json");
	private static final Pattern ANY_ID = Pattern.compile("\\.?([0-9]{6})\\..*");

	private final Path dir;

	private Repository(Path dir) {
		this.dir = dir;
	}

	/**
	 * Opens an existing backup directory.
	 *
	 * @param dir the directory
	 * @return the repository
	 * @throws NoSuchFileException   when it does not exist
	 * @throws NotDirectoryException when it is not a directory
	 */
	public static Repository open(Path dir) throws IOException {
		if (!Files.exists(dir))
			throw new NoSuchFileException(dir.toString(), null, "no such backup directory");
		if (!Files.isDirectory(dir))
			throw new NotDirectoryException(dir.toString());
		return new Repository(dir);
	}

	/**
	 * Opens a backup directory, creating it (and its parents) when missing.
	 *
	 * @param dir the directory
	 * @return the repository
	 * @throws IOException when it cannot be created
	 */
	public static Repository create(Path dir) throws IOException {
		Files.createDirectories(dir);
		return open(dir);
	}

	/** @return the directory */
	public Path directory() {
		return dir;
	}

	/**
	 * Every committed point whose manifest can be read, by device name, then id.
	 *
	 * @return the points
	 * @throws IOException when the directory cannot be listed
	 */
	public List<Point> points() throws IOException {
		List<Point> all = new ArrayList<>();
		for (Path d : deviceDirs())
			all.addAll(points(d.getFileName().toString()));
		return List.copyOf(all);
	}

	/**
	 * The committed points of one device, oldest first.
	 *
	 * @param device the device's name
	 * @return its points; empty when it has none
	 * @throws IOException when its directory cannot be listed
	 */
	public List<Point> points(String device) throws IOException {
		Path d = dir.resolve(device);
		if (!Files.isDirectory(d))
			return List.of();
		List<Point> points = new ArrayList<>();
		for (Path f : list(d)) {
			Matcher m = MANIFEST.matcher(f.getFileName().toString());
			if (!m.matches())
				continue;
			Optional<Point> p = readPoint(d, m.group(1));
			p.ifPresent(points::add);
		}
		points.sort(Comparator.comparing(Point::id));
		return List.copyOf(points);
	}

	/**
	 * The manifests that cannot be read, for verify to report.
	 *
	 * @return "device/ID.json: problem" for each
	 * @throws IOException when the directory cannot be listed
	 */
	public List<String> unreadableManifests() throws IOException {
		List<String> problems = new ArrayList<>();
		for (Path d : deviceDirs()) {
			for (Path f : list(d)) {
				if (!MANIFEST.matcher(f.getFileName().toString()).matches())
					continue;
				try {
					Json.manifest(f);
				} catch (IOException e) {
					problems.add(e.getMessage());
				}
			}
		}
		return List.copyOf(problems);
	}

	/**
	 * One point.
	 *
	 * @param device the device's name
	 * @param id     the id ({@code "3"} and {@code "000003"} are the same), or null for the latest
	 * @return the point
	 * @throws NoSuchPointException when there is no such point
	 * @throws IOException          when the directory cannot be read
	 */
	public Point point(String device, String id) throws IOException {
		List<Point> points = points(device);
		if (points.isEmpty())
			throw new NoSuchPointException(dir + ": no points of device '" + device + "'"
					+ (devices().isEmpty() ? "" : " (devices: " + String.join(", ", devices()) + ")"), null);
		if (id == null)
			return points.getLast();
		String want = normalizeId(id);
		for (Point p : points) {
			if (p.id().equals(want))
				return p;
		}
		throw new NoSuchPointException(dir + ": device '" + device + "' has no point " + want + " (it has "
				+ points.getFirst().id() + ".." + points.getLast().id() + ")", null);
	}

	/**
	 * The devices that have a directory here.
	 *
	 * @return their names, sorted
	 * @throws IOException when the directory cannot be listed
	 */
	public List<String> devices() throws IOException {
		return deviceDirs().stream().map(p -> p.getFileName().toString()).toList();
	}

	/**
	 * A point and the points it needs, newest first, down to its full point.
	 *
	 * @param point a committed point
	 * @return the chain, {@code point} first
	 * @throws DamagedPointException when a point of the chain is missing
	 * @throws IOException           when a manifest cannot be read
	 */
	public List<Point> chain(Point point) throws IOException {
		List<Point> chain = new ArrayList<>();
		chain.add(point);
		Point p = point;
		while (p.manifest().chain().backing() != null) {
			String backing = p.manifest().chain().backing();
			Optional<Point> next = readPoint(dir.resolve(p.device()), backing);
			if (next.isEmpty())
				throw new DamagedPointException(dir + ": point " + p.id() + " of '" + p.device()
						+ "' needs point " + backing + ", which is missing or unreadable", null);
			p = next.get();
			if (chain.size() > 100_000)
				throw new DamagedPointException(dir + ": the chain of point " + point.id() + " loops", null);
			chain.add(p);
		}
		return List.copyOf(chain);
	}

	/**
	 * Starts a backup: takes the lock (refused while another backup holds
	 * it) and removes what an interrupted backup left behind.
	 *
	 * @param options how to back up
	 * @return the session; close it to release the lock
	 * @throws RepositoryLockedException when another backup runs into this directory
	 * @throws IOException               when the lock file cannot be written
	 */
	public BackupSession beginBackup(BackupOptions options) throws IOException {
		return beginBackup(options, Mounter.system());
	}

	/**
	 * As {@link #beginBackup(BackupOptions)}, with the mounts of
	 * {@link BackupOptions#replayJournal()} made by {@code mounter}.
	 *
	 * @param options how to back up
	 * @param mounter mounts and unmounts the images whose journal is replayed
	 * @return the session, holding the lock until closed
	 * @throws RepositoryLockedException when another backup holds the lock
	 * @throws IOException               when the directory cannot be prepared
	 */
	public BackupSession beginBackup(BackupOptions options, Mounter mounter) throws IOException {
		Objects.requireNonNull(options, "options");
		Objects.requireNonNull(mounter, "mounter");
		Lock lock = lock();
		try {
			removeLeftovers();
			return new BackupSession(this, lock, options, mounter);
		} catch (IOException | RuntimeException e) {
			lock.close();
			throw e;
		}
	}

	/**
	 * Restores a point to a new file (sparse) or over a block device.
	 *
	 * @param device   the device's name
	 * @param id       the point, or null for the latest
	 * @param target   a file that does not exist yet, or a block device at least as large
	 * @param readers  reads in flight, 1..64
	 * @param progress told about the copy
	 * @return what was done
	 * @throws NoSuchPointException  when there is no such point
	 * @throws DamagedPointException when its chain is broken
	 * @throws IOException           when reading or writing fails, or the target is unusable
	 */
	public RestoreResult restore(String device, String id, Path target, int readers, Progress progress)
			throws IOException {
		Point p = point(device, id);
		return new Restorer(this, chain(p), target, readers, progress).run();
	}

	/**
	 * Re-reads points and checks them against their manifests, recording the
	 * outcome beside each one.
	 *
	 * @param id       only the points with this id and the points they need,
	 *                 or null for every point
	 * @param progress told about each point
	 * @return one result per point, by device then id
	 * @throws NoSuchPointException when no point has that id
	 * @throws IOException          when the directory cannot be read
	 */
	public List<VerifyResult> verify(String id, Progress progress) throws IOException {
		return Verifier.verify(this, id == null ? null : normalizeId(id), progress);
	}

	/** The id as stored: six digits. */
	static String normalizeId(String id) {
		if (!id.matches("[0-9]{1,6}"))
			throw new IllegalArgumentException("point id '" + id + "' is not a number of at most 6 digits");
		return String.format("%06d", Integer.parseInt(id));
	}

	Path deviceDir(String device) {
		return dir.resolve(device);
	}

	/** The next id: above every id any file here carries, committed or not. */
	String nextId() throws IOException {
		int max = 0;
		for (Path d : deviceDirs()) {
			for (Path f : list(d)) {
				Matcher m = ANY_ID.matcher(f.getFileName().toString());
				if (m.matches())
					max = Math.max(max, Integer.parseInt(m.group(1)));
			}
		}
		if (max >= 999_999)
			throw new IOException(dir + ": point ids are exhausted (999999)");
		return String.format("%06d", max + 1);
	}

	Optional<Point> readPoint(Path deviceDir, String id) throws IOException {
		Path manifest = deviceDir.resolve(id + ".json");
		if (!Files.isRegularFile(manifest))
			return Optional.empty();
		Manifest m;
		try {
			m = Json.manifest(manifest);
		} catch (IOException e) {
			return Optional.empty();
		}
		Path verify = deviceDir.resolve(id + ".verify.json");
		Optional<Verification> v = Optional.empty();
		if (Files.isRegularFile(verify)) {
			try {
				v = Optional.of(Json.verification(verify));
			} catch (IOException e) {
				v = Optional.of(new Verification("", false, e.getMessage()));
			}
		}
		return Optional.of(new Point(m, deviceDir.resolve(m.image().file()), v));
	}

	/** Temporary files of an interrupted backup, and images whose manifest was never written. */
	private void removeLeftovers() throws IOException {
		for (Path d : deviceDirs()) {
			boolean removed = false;
			for (Path f : list(d)) {
				String name = f.getFileName().toString();
				boolean tmp = name.startsWith(".") && name.endsWith(".tmp");
				boolean orphan = name.matches("[0-9]{6}\\.qcow2")
						&& !Files.exists(d.resolve(name.replace(".qcow2", ".json")));
				if (tmp || orphan) {
					Files.deleteIfExists(f);
					removed = true;
				}
			}
			if (removed)
				DurableFiles.syncDirectory(d);
		}
	}

	private List<Path> deviceDirs() throws IOException {
		List<Path> dirs = new ArrayList<>();
		for (Path p : list(dir)) {
			if (!p.getFileName().toString().startsWith(".") && Files.isDirectory(p))
				dirs.add(p);
		}
		dirs.sort(Comparator.comparing(p -> p.getFileName().toString()));
		return dirs;
	}

	private static List<Path> list(Path d) throws IOException {
		List<Path> out = new ArrayList<>();
		try (DirectoryStream<Path> s = Files.newDirectoryStream(d)) {
			s.forEach(out::add);
		}
		return out;
	}

	/** The exclusive lock of a backup; released on close (and by the kernel when the process dies). */
	final class Lock implements AutoCloseable {
		private final FileChannel channel;
		private final FileLock lock;

		private Lock(FileChannel channel, FileLock lock) {
			this.channel = channel;
			this.lock = lock;
		}

		@Override
		public void close() throws IOException {
			try {
				lock.release();
			} finally {
				channel.close();
			}
		}
	}

	private Lock lock() throws IOException {
		Path file = dir.resolve(LOCK);
		FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
				StandardOpenOption.WRITE);
		FileLock l;
		try {
			l = ch.tryLock();
		} catch (OverlappingFileLockException e) {
			l = null; // held by this JVM
		} catch (IOException | RuntimeException e) {
			ch.close();
			throw e;
		}
		if (l == null) {
			String holder;
			try {
				holder = new String(Files.readAllBytes(file), StandardCharsets.UTF_8).strip();
			} finally {
				ch.close();
			}
			throw new RepositoryLockedException(dir + ": another backup is writing to this directory"
					+ (holder.isEmpty() ? "" : " (" + holder + ")") + "; wait for it to finish", null);
		}
		ch.truncate(0);
		ch.write(ByteBuffer.wrap(("pid " + ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.UTF_8)),
				0);
		return new Lock(ch, l);
	}

	@Override
	public String toString() {
		return "Repository[" + dir + "]";
	}
}
