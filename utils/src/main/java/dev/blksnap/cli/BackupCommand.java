// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.DeviceId;
import dev.blksnap.ModuleVersion;
import dev.blksnap.NotSupportedException;
import dev.blksnap.SnapshotEvent;
import dev.blksnap.TakeResult;
import dev.blksnap.backup.BackupOptions;
import dev.blksnap.backup.BackupResult;
import dev.blksnap.backup.BackupSession;
import dev.blksnap.backup.DeviceSource;
import dev.blksnap.backup.Manifest;
import dev.blksnap.backup.Point;
import dev.blksnap.backup.Repository;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

/** {@code blksnap backup}: one snapshot of the devices, one point per device. */
@Command(name = "backup", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
		header = "Back up devices into DIR: full the first time, then incremental.",
		description = {"Take one snapshot of every DEVICE (one instant), copy each into a new qcow2 point in "
				+ "DIR/<device>/, and destroy the snapshot, on success and on failure. The first point of a device "
				+ "is full; later ones hold only the blocks changed since the previous point (from the change "
				+ "tracker, which the snapshot attaches), with the previous point as backing file. When the "
				+ "tracker's generation changed, or the previous point is missing or failed to verify, the point "
				+ "is full and the output says why.",
			"%nWhile it copies, the backup answers the snapshot's events: when the difference storage runs "
				+ "low (the module's storage_low_free_mib margin, at most half the storage), it adds the next "
				+ "--extra-storage and says so (a line, or 'events' in --json). When the storage overflows or "
				+ "the snapshot breaks otherwise, the copy stops at once: one line names the devices and the "
				+ "errno, nothing is recorded, exit 7.",
			"%nWith --replay-journal the snapshot's images are writable (the devices never change): after take, "
				+ "each image whose ext3/ext4 journal needs recovery (its superblock says so; a freeze leaves none "
				+ "to do), and each xfs image (xfs records no such flag), is mounted read-write in a private "
				+ "temporary directory, so that the kernel replays the journal into the image, and unmounted before "
				+ "its copy. Such a point is full, and so is the device's next point. A failed mount ends the "
				+ "backup with one line, nothing mounted or recorded, exit 9.",
			"%nA second backup into the same DIR while one runs is refused (exit 75). An interrupted backup "
				+ "leaves every earlier point intact; the next one cleans up."})
final class BackupCommand extends LeafCommand {
	/** Default difference storage limit: a tenth of the devices, at least this. */
	static final long MIN_DEFAULT_LIMIT = 256L << 20;

	@Parameters(index = "0..*", arity = "1..*", paramLabel = "DEVICE", description = "block device path or MAJ:MIN")
	List<String> devices;

	@Option(names = "--to", required = true, paramLabel = "DIR", description = "the backup directory (created if missing)")
	Path dir;

	@Option(names = "--storage", paramLabel = "PATH", description = "the snapshot's difference storage: a block "
			+ "device, a file, or a directory for a temporary file (default: DIR); not on a DEVICE")
	Path storage;

	@Option(names = "--storage-limit", paramLabel = "SIZE", converter = SizeConverter.class,
			description = "bytes of storage the snapshot may use (default: a tenth of the devices' size, at least 256M)")
	Long limit;

	/** One {@code --extra-storage PATH [--extra-storage-limit SIZE]}. */
	static final class ExtraStorage {
		@Option(names = "--extra-storage", required = true, paramLabel = "PATH", description = "storage added "
				+ "when the snapshot's storage runs low: a block device (overwritten), a file, or a directory for "
				+ "a temporary file; repeat it for more (used in order, each once; a directory may be named "
				+ "several times)")
		Path path;

		@Option(names = "--extra-storage-limit", paramLabel = "SIZE", converter = SizeConverter.class,
				description = "bytes of the --extra-storage before it the snapshot may use (default: the whole "
						+ "device or file; for a directory, the --storage-limit)")
		Long limit;
	}

	@ArgGroup(exclusive = false, multiplicity = "0..*")
	List<ExtraStorage> extras;

	@Option(names = "--full", description = "a full point, whatever came before")
	boolean full;

	@Option(names = "--differential", description = "the blocks changed since the last full point, with it as backing file")
	boolean differential;

	@Option(names = "--no-freeze", description = "do not freeze file systems at take (crash-consistent points)")
	boolean noFreeze;

	@Option(names = "--read-holes", description = "read the blocks the change tracker saw discarded or zeroed "
			+ "before the snapshot, instead of storing them as zeros unread (by default a few are read to check "
			+ "that the device returns zeros for them, and all are read when one does not)")
	boolean readHoles;

	@Option(names = "--replay-journal", description = "replay the journal of ext3, ext4 and xfs images that need "
			+ "it before copying them (a writable snapshot; the point is then full and records the replay)")
	boolean replayJournal;

	@Option(names = "--readers", paramLabel = "N", defaultValue = "4", description = "reads in flight (default: ${DEFAULT-VALUE})")
	int readers;

	/** JSON of {@code backup --json}. */
	public record View(String id, String dir, long snapshot, long holdMicros, List<PointView> points,
			List<EventView> events, List<String> replayed, long durationMillis) {
	}

	/**
	 * A snapshot event the backup answered: {@code event} low-free-space (overflow and corrupted end
	 * the backup with an error instead); the storage added, with its limit (0: whole), or why none.
	 */
	public record EventView(String event, long usedBytes, long limitBytes, String storageAdded,
			Long storageAddedLimit, String note) {
		static EventView of(StorageWatcher.Answer a) {
			String name = switch (a.event()) {
				case SnapshotEvent.LowFreeSpace _ -> "low-free-space";
				case SnapshotEvent.Overflow _ -> "overflow";
				case SnapshotEvent.Corrupted _ -> "corrupted";
			};
			return new EventView(name, a.event().used(), a.event().limit(),
					a.added() == null ? null : a.added().path().toString(),
					a.added() == null ? null : a.added().limit(), a.failure());
		}
	}

	/** One point of {@code backup --json}; {@code replay}: what --replay-journal did, null without it. */
	public record PointView(String device, String id, String type, String reason, String file, long bytesRead,
			long bytesWritten, long holeBytes, long changedBlocks, long holeBlocks, String holes, long dataClusters,
			long zeroClusters, long durationMillis, Manifest.Replay replay) {
		static PointView of(Point p) {
			Manifest m = p.manifest();
			return new PointView(p.device(), p.id(), m.type().label(), m.reason(), p.image().toString(),
					m.stats().bytesRead(), m.stats().bytesWritten(), m.stats().holeBytes(),
					m.cbt() == null ? -1 : m.cbt().changedBlocks(), m.cbt() == null ? -1 : m.cbt().zeroedBlocks(),
					m.cbt() == null ? null : m.cbt().holes(), m.stats().dataClusters(), m.stats().zeroClusters(),
					m.stats().durationMillis(), m.replay());
		}
	}

	/** The devices whose image had its journal replayed before the copy. */
	static List<String> replayed(BackupResult result) {
		return result.points().stream().filter(p -> p.manifest().replay() != null
				&& p.manifest().replay().replayed()).map(Point::device).toList();
	}

	@Override
	public Integer call() throws Exception {
		if (full && differential)
			throw new ParameterException(spec.commandLine(), "--full and --differential exclude each other");
		List<SnapshotSources.Origin> origins = new ArrayList<>();
		for (String d : devices) {
			DeviceId id;
			try {
				id = DeviceConverter.parse(d);
			} catch (RuntimeException e) {
				throw new ParameterException(spec.commandLine(), "bad DEVICE: " + e.getMessage(), e);
			}
			if (origins.stream().anyMatch(o -> o.id().equals(id)))
				throw new ParameterException(spec.commandLine(), "DEVICE " + d + " given twice");
			origins.add(new SnapshotSources.Origin(id, d));
		}
		BackupOptions options;
		try {
			options = new BackupOptions(full ? BackupOptions.Mode.FULL
					: differential ? BackupOptions.Mode.DIFFERENTIAL : BackupOptions.Mode.AUTO, readers,
					BackupOptions.DEFAULT_CHUNK, readHoles, replayJournal);
		} catch (IllegalArgumentException e) {
			throw new ParameterException(spec.commandLine(), e.getMessage(), e);
		}
		List<ExtraStorage> more = extras == null ? List.of() : extras;
		for (ExtraStorage e : more) {
			if (!Files.exists(e.path))
				throw new ParameterException(spec.commandLine(), "--extra-storage " + e.path + ": no such file, "
						+ "device or directory");
		}
		Repository repo = Repository.create(dir);
		BackupResult result;
		long snapshotId;
		TakeResult take;
		List<StorageWatcher.Answer> answers = List.of();
		// The lock first: a second backup is refused before it touches the devices.
		try (BackupSession session = repo.beginBackup(options, env().mounter()); Control control = openControl()) {
			ModuleVersion version = control.version();
			if (replayJournal && !version.hasWritableImages())
				throw new NotSupportedException("backup --replay-journal", 25, "this module's snapshot images "
						+ "cannot be written", "load a blksnap module of contract 1.6 or later, or leave out "
						+ "--replay-journal");
			if (!more.isEmpty() && !version.hasAddStorage())
				throw new NotSupportedException("backup --extra-storage", 25, "this module cannot add storage to "
						+ "a live snapshot", "load a blksnap module of contract 1.5 or later, or leave out "
						+ "--extra-storage");
			long total = 0;
			for (SnapshotSources.Origin o : origins)
				total += env().sysBlock().sizeBytes(o.id()).orElse(0);
			long bytes = limit != null ? limit : Math.max(MIN_DEFAULT_LIMIT, total / 10 / 4096 * 4096);
			List<StorageWatcher.Extra> extra = new ArrayList<>();
			for (ExtraStorage e : more)
				extra.add(new StorageWatcher.Extra(e.path,
						e.limit != null ? e.limit : Files.isDirectory(e.path) ? bytes : 0));
			snapshotId = control.createSnapshot(storage != null ? storage : dir, bytes, false, replayJournal);
			StorageWatcher watch = null;
			try {
				// Before take: the copies that take starts may fill the storage at once.
				if (version.hasEvents())
					watch = StorageWatcher.start(target(control, snapshotId), snapshotId,
							SnapshotSources.names(origins), extra, line -> {
								if (!json())
									out().println(line);
							});
				for (SnapshotSources.Origin o : origins)
					control.addToSnapshot(snapshotId, o.id());
				take = control.takeSnapshot(snapshotId, noFreeze);
				Instant instant = Instant.now();
				List<DeviceSource> sources = SnapshotSources.of(control, env(), snapshotId, origins, watch);
				result = session.run(sources, instant, Bars.forTerminal(!json()));
			} finally {
				try {
					// Destroy ends the watcher's wait at once.
					control.destroySnapshot(snapshotId);
				} finally {
					if (watch != null)
						watch.close();
				}
			}
			answers = watch == null ? List.of() : watch.answers();
		}
		if (json()) {
			Output.json(out(), new View(result.id(), dir.toString(), snapshotId, take.holdNanos() / 1000,
					result.points().stream().map(PointView::of).toList(),
					answers.stream().map(EventView::of).toList(), replayed(result), result.durationMillis()));
			return ExitCodes.OK;
		}
		for (Point p : result.points()) {
			Manifest m = p.manifest();
			out().printf("%s: point %s, %s (%s): read %s, wrote %s, holes %s in %.1f s -> %s%n", p.device(), p.id(),
					m.type().label(), m.reason(), Output.human(m.stats().bytesRead()),
					Output.human(m.stats().bytesWritten()), Output.human(m.stats().holeBytes()),
					m.stats().durationMillis() / 1000.0, p.image());
			if (m.replay() != null)
				out().printf("%s: %s%n", p.device(), m.replay().note());
		}
		return ExitCodes.OK;
	}

	/** The snapshot as the watcher uses it. */
	private static StorageWatcher.Target target(Control control, long id) {
		return new StorageWatcher.Target() {
			@Override
			public Optional<SnapshotEvent> waitEvent(Duration timeout) throws dev.blksnap.BlksnapException {
				return control.waitSnapshotEvent(id, timeout);
			}

			@Override
			public void addStorage(Path path, long limit) throws dev.blksnap.BlksnapException {
				control.addSnapshotStorage(id, path, limit);
			}
		};
	}
}
