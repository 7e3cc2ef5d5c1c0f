// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.BlksnapException;
import dev.blksnap.DeviceId;
import dev.blksnap.SnapshotDevice;
import dev.blksnap.SnapshotEvent;
import dev.blksnap.SnapshotInfo;
import dev.blksnap.TakeResult;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

/** {@code blksnap snapshot}: create, add, add-storage, take, list, info, destroy, wait-event. */
@Command(name = "snapshot", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
		header = "Create, take, inspect and destroy snapshots.",
		description = "A snapshot shows one or several devices as they were at one instant, through read-only "
				+ "image devices (/dev/blksnap-imageN), while the devices stay in use. Snapshots made here outlive "
				+ "the command (they are created to be kept): destroy them with 'blksnap snapshot destroy ID'.",
		synopsisSubcommandLabel = "COMMAND",
		subcommands = {SnapshotCommand.Create.class, SnapshotCommand.Add.class, SnapshotCommand.AddStorage.class,
			SnapshotCommand.Take.class,
			SnapshotCommand.ListSnapshots.class, SnapshotCommand.Info.class, SnapshotCommand.Destroy.class,
			SnapshotCommand.WaitEvent.class})
final class SnapshotCommand {

	/** One device of {@code snapshot info --json} and {@code take --json}. */
	public record DeviceView(String origin, String name, String image, String imagePath, long capacityBytes,
			int chunkSize, UUID generation, int closedNumber, String freeze, int error, int freezeError,
			long writesHeld, long chunksCopied, long chunksStored, long discardsDropped) {
	}

	static final String WRITABLE_HELP = "images accept writes, kept in the storage (the originals never change; "
			+ "e.g. to replay a file system's journal); module 1.6 or later";

	/** JSON of {@code snapshot info --json} and {@code take --json}. */
	public record InfoView(long id, String state, int error, boolean keep, boolean writable, String storageKind, String storageDevice,
			long storageUsed, long storageSize, long storageLimit, List<DeviceView> devices, TakeView take) {
	}

	/** What take reported. */
	public record TakeView(long holdMicros, long freezeMicros, int frozen, int freezeFailed) {
	}

	static InfoView view(LeafCommand cmd, SnapshotInfo info, TakeResult take) {
		List<DeviceView> devices = new ArrayList<>();
		for (SnapshotDevice d : info.devices()) {
			String imagePath = d.image().flatMap(i -> cmd.env().sysBlock().devicePath(i)).orElse(null);
			devices.add(new DeviceView(d.origin().toString(), cmd.nameOf(d.origin()),
					d.image().map(DeviceId::toString).orElse(null), imagePath, d.capacityBytes(), d.chunkSize(),
					d.generation(), d.closedNumber(), d.freeze().name().toLowerCase(java.util.Locale.ROOT), d.error(),
					d.freezeError(), d.writesHeld(), d.chunksCopied(), d.chunksStored(), d.discardsDropped()));
		}
		return new InfoView(info.id(), info.state().name().toLowerCase(java.util.Locale.ROOT), info.error(),
				info.keep(), info.writable(), info.storageKind().name().toLowerCase(java.util.Locale.ROOT),
				info.storageDevice().toString(), info.storageUsed(), info.storageSize(), info.storageLimit(),
				devices, take == null ? null
						: new TakeView(take.holdNanos() / 1000, take.freezeNanos() / 1000, take.frozen(),
								take.freezeFailed()));
	}

	/** Prints a snapshot as {@code info} does (text or JSON); exit code OK. */
	static int show(LeafCommand cmd, SnapshotInfo info) throws java.io.IOException {
		InfoView v = view(cmd, info, null);
		if (cmd.json())
			Output.json(cmd.out(), v);
		else
			print(cmd, v);
		return ExitCodes.OK;
	}

	static void print(LeafCommand cmd, InfoView v) {
		cmd.out().printf("snapshot %d: %s%s%s, storage %s %s: %s used of %s%n", v.id(), v.state(),
				v.error() == 0 ? "" : " (" + BrokenSnapshotReasons.describe(v.error()) + ")",
				v.writable() ? ", writable images" : "", v.storageKind(), v.storageDevice(),
				Output.human(v.storageUsed()), Output.human(v.storageLimit()));
		if (v.take() != null)
			cmd.out().printf("taken: writes held %.3f ms, %d file system%s frozen, %d could not be%n",
					v.take().holdMicros() / 1000.0, v.take().frozen(), v.take().frozen() == 1 ? "" : "s",
					v.take().freezeFailed());
		for (DeviceView d : v.devices())
			cmd.out().printf("%s%s -> %s: %s, chunk %d, generation %s closed at change number %d, freeze %s%n",
					d.origin(), d.name() == null ? "" : " (" + d.name() + ")",
					d.image() == null ? "no image yet" : d.imagePath() != null ? d.imagePath() + " (" + d.image() + ")"
							: d.image(),
					Output.human(d.capacityBytes()), d.chunkSize(), d.generation(), d.closedNumber(), d.freeze());
	}

	static DeviceId device(LeafCommand cmd, String text) {
		try {
			return DeviceConverter.parse(text);
		} catch (RuntimeException e) {
			throw new ParameterException(cmd.spec.commandLine(), "bad DEVICE: " + e.getMessage(), e);
		}
	}

	@Command(name = "create", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
			header = "Create an empty snapshot with its difference storage; print its id.")
	static final class Create extends LeafCommand {
		@Option(names = "--storage", required = true, paramLabel = "PATH",
				description = "a block device (overwritten), a file, or a directory for a temporary file")
		Path storage;

		@Option(names = "--limit", required = true, paramLabel = "SIZE", converter = SizeConverter.class,
				description = "bytes of storage the snapshot may use (K, M, G, T suffixes)")
		long limit;

		@Option(names = "--writable", description = WRITABLE_HELP)
		boolean writable;

		@Override
		public Integer call() throws Exception {
			SnapshotInfo info;
			try (Control control = openControl()) {
				long id = control.createSnapshot(storage, limit, true, writable);
				info = control.snapshotInfo(id);
			}
			if (json())
				Output.json(out(), view(this, info, null));
			else
				out().println(info.id());
			return ExitCodes.OK;
		}
	}

	@Command(name = "add", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
			header = "Add devices to a snapshot not yet taken.")
	static final class Add extends LeafCommand {
		@Parameters(index = "0", paramLabel = "ID", description = "the snapshot")
		long id;

		@Parameters(index = "1..*", arity = "1..*", paramLabel = "DEVICE", description = "block device path or MAJ:MIN")
		List<String> devices;

		@Override
		public Integer call() throws Exception {
			List<DeviceId> ids = devices.stream().map(d -> device(this, d)).toList();
			SnapshotInfo info;
			try (Control control = openControl()) {
				for (DeviceId d : ids)
					control.addToSnapshot(id, d);
				info = control.snapshotInfo(id);
			}
			return show(this, info);
		}
	}

	@Command(name = "take", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
			header = "Take a snapshot; with DEVICEs, create it, add them and take it in one step.",
			description = "'take --id ID' takes a snapshot made with create and add. 'take DEVICE... --storage PATH "
					+ "--limit SIZE' creates one, adds the devices and takes it. Either way it prints the image "
					+ "devices and the change number each device's tracker closed at the instant.")
	static final class Take extends LeafCommand {
		@Parameters(arity = "0..*", paramLabel = "DEVICE", description = "block device path or MAJ:MIN")
		List<String> devices = List.of();

		@Option(names = "--id", paramLabel = "ID", description = "take this existing snapshot")
		Long id;

		@Option(names = "--storage", paramLabel = "PATH", description = "with DEVICEs: the difference storage")
		Path storage;

		@Option(names = "--limit", paramLabel = "SIZE", converter = SizeConverter.class,
				description = "with DEVICEs: bytes of storage the snapshot may use")
		Long limit;

		@Option(names = "--no-freeze", description = "do not freeze file systems (crash-consistent images)")
		boolean noFreeze;

		@Option(names = "--writable", description = "with DEVICEs: " + WRITABLE_HELP)
		boolean writable;

		@Override
		public Integer call() throws Exception {
			if (id != null && (!devices.isEmpty() || storage != null || limit != null || writable))
				throw new ParameterException(spec.commandLine(), "--id takes an existing snapshot: no DEVICE, "
						+ "--storage, --limit or --writable with it");
			if (id == null && (devices.isEmpty() || storage == null || limit == null))
				throw new ParameterException(spec.commandLine(), "give --id ID, or DEVICE... with --storage and --limit");
			List<DeviceId> ids = devices.stream().map(d -> device(this, d)).toList();
			SnapshotInfo info;
			TakeResult take;
			try (Control control = openControl()) {
				long snap = id != null ? id : control.createSnapshot(storage, limit, true, writable);
				try {
					for (DeviceId d : ids)
						control.addToSnapshot(snap, d);
					take = control.takeSnapshot(snap, noFreeze);
				} catch (BlksnapException | RuntimeException e) {
					if (id == null)
						destroyQuietly(control, snap, e);
					throw e;
				}
				info = control.snapshotInfo(snap);
			}
			InfoView v = view(this, info, take);
			if (json())
				Output.json(out(), v);
			else
				print(this, v);
			return ExitCodes.OK;
		}

		private static void destroyQuietly(Control control, long snap, Exception failure) {
			try {
				control.destroySnapshot(snap);
			} catch (BlksnapException e) {
				failure.addSuppressed(e);
			}
		}
	}

	@Command(name = "list", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
			header = "List the snapshots: id, state, devices.")
	static final class ListSnapshots extends LeafCommand {
		/** JSON of {@code snapshot list --json}. */
		public record ListView(List<InfoView> snapshots) {
		}

		@Override
		public Integer call() throws Exception {
			List<InfoView> views = new ArrayList<>();
			try (Control control = openControl()) {
				for (long id : control.snapshots()) {
					try {
						views.add(view(this, control.snapshotInfo(id), null));
					} catch (dev.blksnap.NoSuchSnapshotException gone) {
						// destroyed between the list and the info
					}
				}
			}
			if (json()) {
				Output.json(out(), new ListView(views));
				return ExitCodes.OK;
			}
			for (InfoView v : views)
				out().printf("%d %s %d device%s%s%n", v.id(), v.state(), v.devices().size(),
						v.devices().size() == 1 ? "" : "s", v.devices().isEmpty() ? ""
								: ": " + String.join(" ", v.devices().stream().map(DeviceView::origin).toList()));
			return ExitCodes.OK;
		}
	}

	@Command(name = "info", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
			header = "Show a snapshot's state, storage and devices.")
	static final class Info extends LeafCommand {
		@Parameters(paramLabel = "ID", description = "the snapshot")
		long id;

		@Override
		public Integer call() throws Exception {
			SnapshotInfo info;
			try (Control control = openControl()) {
				info = control.snapshotInfo(id);
			}
			return show(this, info);
		}
	}

	@Command(name = "add-storage", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
			header = "Give a snapshot, taken or not, more difference storage.",
			description = "Copies go on in the new storage when the snapshot's storage is full; its limit grows "
					+ "and the low-free-space event is re-armed. The answer to 'wait-event' reporting "
					+ "low-free-space. The storage is refused as at create: not one a snapshot already uses, not "
					+ "on a device in a snapshot.")
	static final class AddStorage extends LeafCommand {
		@Parameters(index = "0", paramLabel = "ID", description = "the snapshot")
		long id;

		@Parameters(index = "1", paramLabel = "PATH",
				description = "a block device (overwritten), a file, or a directory for a temporary file")
		Path storage;

		@Option(names = "--limit", paramLabel = "SIZE", converter = SizeConverter.class, defaultValue = "0",
				description = "bytes of it the snapshot may use (K, M, G, T suffixes); default: the whole device "
						+ "or file (a directory needs --limit)")
		long limit;

		@Override
		public Integer call() throws Exception {
			SnapshotInfo info;
			try (Control control = openControl()) {
				control.addSnapshotStorage(id, storage, limit);
				info = control.snapshotInfo(id);
			}
			return show(this, info);
		}
	}

	@Command(name = "destroy", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
			header = "Destroy a snapshot: its images go away, its storage is freed, trackers stay.")
	static final class Destroy extends LeafCommand {
		@Parameters(paramLabel = "ID", description = "the snapshot")
		long id;

		/** JSON of {@code snapshot destroy --json}. */
		public record DestroyView(long id, boolean destroyed) {
		}

		@Override
		public Integer call() throws Exception {
			try (Control control = openControl()) {
				control.destroySnapshot(id);
			}
			if (json())
				Output.json(out(), new DestroyView(id, true));
			else
				out().println("snapshot " + id + " destroyed");
			return ExitCodes.OK;
		}
	}

	@Command(name = "wait-event", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
			header = "Wait for a snapshot's next event: low free space, overflow, or another break.",
			description = "Prints the event and exits 0, or exits 8 when none came within --timeout. Each event "
					+ "is reported once: low-free-space when the storage's free space falls below the module's "
					+ "margin (storage_low_free_mib, at most half the storage; again after each 'add-storage', "
					+ "its answer), overflow when it is full, corrupted "
					+ "when copy-on-write failed otherwise (with the errno and the device); the snapshot is broken "
					+ "after the last two. Destroying the snapshot ends the wait (exit 66).")
	static final class WaitEvent extends LeafCommand {
		/** The module's longest wait in one call; longer timeouts are waited in slices. */
		private static final Duration SLICE = Duration.ofHours(1);

		@Parameters(paramLabel = "ID", description = "the snapshot")
		long id;

		@Option(names = "--timeout", paramLabel = "DURATION", converter = DurationConverter.class,
				description = "how long to wait (500ms, 30s, 5m, 2h; a bare number is seconds; 0 does not wait); "
						+ "default: until an event or the end of the snapshot")
		Duration timeout;

		/**
		 * JSON of {@code snapshot wait-event --json}: {@code event} is low-free-space, overflow, corrupted, or
		 * none (exit 8, the other members null); {@code error} and {@code device} are the corrupted one's.
		 */
		public record EventView(long id, String event, Integer error, String errorName, String device,
				String deviceName, Long timeNs, Long used, Long limit, Integer lost) {
		}

		@Override
		public Integer call() throws Exception {
			Optional<SnapshotEvent> event = Optional.empty();
			try (Control control = openControl()) {
				Duration left = timeout;
				do {
					Duration slice = left == null || left.compareTo(SLICE) > 0 ? SLICE : left;
					event = control.waitSnapshotEvent(id, slice);
					left = left == null ? null : left.minus(slice);
				} while (event.isEmpty() && (left == null || left.isPositive()));
			}
			EventView v = event.map(this::view).orElse(new EventView(id, "none", null, null, null, null, null,
					null, null, null));
			if (json())
				Output.json(out(), v);
			else
				out().println(text(v));
			return event.isPresent() ? ExitCodes.OK : ExitCodes.NO_EVENT;
		}

		private EventView view(SnapshotEvent e) {
			return switch (e) {
				case SnapshotEvent.LowFreeSpace l -> new EventView(id, "low-free-space", 0, null, null, null,
						l.timeNs(), l.used(), l.limit(), l.lost());
				case SnapshotEvent.Overflow o -> new EventView(id, "overflow", 28, "ENOSPC", null, null, o.timeNs(),
						o.used(), o.limit(), o.lost());
				case SnapshotEvent.Corrupted c -> new EventView(id, "corrupted", c.errno(), c.errnoName(),
						c.device().map(DeviceId::toString).orElse(null), c.device().map(this::nameOf).orElse(null),
						c.timeNs(), c.used(), c.limit(), c.lost());
			};
		}

		private String text(EventView v) {
			String lost = v.lost() == null || v.lost() == 0 ? "" : " (" + v.lost() + " earlier events lost)";
			return switch (v.event()) {
				case "none" -> "snapshot " + id + ": no event"
						+ (timeout == null ? "" : " within " + timeout.toString().substring(2).toLowerCase(
								java.util.Locale.ROOT));
				case "low-free-space" -> "snapshot " + id + ": low free space: " + Output.human(v.used())
						+ " used of " + Output.human(v.limit()) + lost;
				case "overflow" -> "snapshot " + id + ": overflow: " + BrokenSnapshotReasons.describe(v.error())
						+ " (" + Output.human(v.used()) + " of " + Output.human(v.limit()) + "); it is broken" + lost;
				default -> "snapshot " + id + ": corrupted: " + BrokenSnapshotReasons.describe(v.error())
						+ (v.device() == null ? "" : " on " + v.device()
								+ (v.deviceName() == null ? "" : " (" + v.deviceName() + ")"))
						+ "; it is broken" + lost;
			};
		}
	}
}
