// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.BlksnapException;
import dev.blksnap.DeviceId;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.OptionalLong;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code blksnap tracker}: attach, detach and list change trackers. */
@Command(name = "tracker", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
		header = "Attach, detach and list change trackers.",
		description = "A tracker records which blocks of one block device are written. A tracker on a whole disk "
				+ "also sees the writes to its partitions.",
		synopsisSubcommandLabel = "COMMAND",
		subcommands = {TrackerCommand.Attach.class, TrackerCommand.Detach.class, TrackerCommand.ListTrackers.class})
final class TrackerCommand {

	/** JSON of attach and detach: the device and whether it is tracked now. */
	public record StateView(String device, String name, boolean tracked) {
	}

	/** One tracker of {@code tracker list --json}; name and sizeBytes are null when unknown. */
	public record TrackerView(String device, int major, int minor, String name, Long sizeBytes) {
	}

	/** JSON of {@code tracker list --json}. */
	public record ListView(List<TrackerView> trackers) {
	}

	/** Attach and detach: one device in, its new state out. */
	abstract static class StateChange extends LeafCommand {
		@Parameters(paramLabel = "DEVICE", description = "block device path or MAJ:MIN",
				converter = DeviceConverter.class)
		DeviceId device;

		/** Whether the device is tracked after a successful {@link #change}. */
		abstract boolean tracked();

		abstract void change(Control control, DeviceId device) throws BlksnapException;

		@Override
		public final Integer call() throws Exception {
			try (Control control = openControl()) {
				change(control, device);
			}
			if (json())
				Output.json(out(), new StateView(device.toString(), nameOf(device), tracked()));
			else
				out().println(label(device) + (tracked() ? ": tracker attached" : ": tracker detached"));
			return ExitCodes.OK;
		}
	}

	@Command(name = "attach", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
			header = "Start tracking the writes to DEVICE.",
			description = "Start tracking the writes to DEVICE. The tracker begins a new generation with an empty "
					+ "map: checkpoint, take a full backup, and use 'blksnap cbt map' for the next ones.")
	static final class Attach extends StateChange {
		@Override
		boolean tracked() {
			return true;
		}

		@Override
		void change(Control control, DeviceId device) throws BlksnapException {
			control.attach(device);
		}
	}

	@Command(name = "detach", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
			header = "Stop tracking DEVICE.",
			description = "Stop tracking DEVICE. Its change map is dropped: the next backup must be full.")
	static final class Detach extends StateChange {
		@Override
		boolean tracked() {
			return false;
		}

		@Override
		void change(Control control, DeviceId device) throws BlksnapException {
			control.detach(device);
		}
	}

	@Command(name = "list", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
			header = "List the tracked devices.",
			description = "List the tracked devices, one per line after a header: MAJ:MIN, /dev name and size "
					+ "(from sysfs; '-' when unknown). Prints nothing when no device is tracked.")
	static final class ListTrackers extends LeafCommand {
		@Override
		public Integer call() throws Exception {
			List<DeviceId> devices;
			try (Control control = openControl()) {
				devices = new ArrayList<>(control.trackers());
			}
			devices.sort(Comparator.comparingInt(DeviceId::major).thenComparingInt(DeviceId::minor));
			List<TrackerView> views = new ArrayList<>();
			for (DeviceId dev : devices) {
				OptionalLong size = env().sysBlock().sizeBytes(dev);
				views.add(new TrackerView(dev.toString(), dev.major(), dev.minor(), nameOf(dev),
						size.isPresent() ? size.getAsLong() : null));
			}
			if (json()) {
				Output.json(out(), new ListView(List.copyOf(views)));
				return ExitCodes.OK;
			}
			if (views.isEmpty())
				return ExitCodes.OK;
			int width = Math.max("NAME".length(),
					views.stream().mapToInt(v -> v.name() == null ? 1 : v.name().length()).max().orElse(1));
			String format = "%-11s %-" + width + "s %s%n";
			out().printf(format, "DEVICE", "NAME", "SIZE");
			for (TrackerView v : views) {
				String size = v.sizeBytes() == null ? "-" : v.sizeBytes() + " (" + Output.human(v.sizeBytes()) + ")";
				out().printf(format, v.device(), v.name() == null ? "-" : v.name(), size);
			}
			return ExitCodes.OK;
		}
	}
}
