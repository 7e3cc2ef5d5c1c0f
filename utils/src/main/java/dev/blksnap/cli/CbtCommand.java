// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.CbtInfo;
import dev.blksnap.CbtMap;
import dev.blksnap.ChangedRange;
import dev.blksnap.Checkpoint;
import dev.blksnap.DeviceId;
import dev.blksnap.SectorRange;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

/** {@code blksnap cbt}: the changed-block map of a tracked device. */
@Command(name = "cbt", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
		header = "Read and update the changed-block map of a tracked device.",
		description = {"Each byte of the map covers one block of the device and holds the change number of the "
				+ "last write to it (0: not written in this generation).",
			"%nA backup: run 'checkpoint' and keep its closedNumber and generation, then copy the data. The next "
				+ "incremental backup copies what 'map --since CLOSED --generation UUID' lists."},
		synopsisSubcommandLabel = "COMMAND",
		subcommands = {CbtCommand.Info.class, CbtCommand.Map.class, CbtCommand.MarkDirty.class,
			CbtCommand.CheckpointCommand.class})
final class CbtCommand {

	/** JSON of {@code cbt info --json}. */
	public record InfoView(String device, String name, long capacityBytes, long capacitySectors, int blockSize,
			long blockCount, UUID generation, String generationReason, int changesNumber, boolean corrupted,
			long mapBytes) {

		static InfoView of(CbtInfo info, String name) {
			long blocks = Integer.toUnsignedLong(info.blockCount());
			return new InfoView(info.device().toString(), name, info.capacityBytes(), info.capacitySectors(),
					info.blockSize(), blocks, info.generation(), info.reason().name().toLowerCase(java.util.Locale.ROOT),
					info.changesNumber(), info.corrupted(), blocks);
		}
	}

	/** One changed range of {@code cbt map --json}, in bytes; a hole need not be read. */
	public record RangeView(long offset, long length, boolean hole) {
	}

	/** JSON of {@code cbt map --json}. */
	public record MapView(String device, UUID generation, int since, int closed, int changesNumber,
			int blockSize, long capacityBytes, List<RangeView> ranges, long changedBytes, long holeBytes) {
	}

	/** One range of {@code cbt mark-dirty --json}, in sectors. */
	public record SectorRangeView(long sectorOffset, long sectorCount) {
	}

	/** JSON of {@code cbt mark-dirty --json}. */
	public record MarkDirtyView(String device, List<SectorRangeView> ranges, long sectors) {
	}

	/** JSON of {@code cbt checkpoint --json}. */
	public record CheckpointView(String device, UUID generation, int closedNumber, int changesNumber,
			boolean newGeneration) {
	}

	@Command(name = "info", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
			header = "Show the state of DEVICE's change map.",
			description = "Show the state of DEVICE's change map: capacity, block size and count, generation and "
					+ "why it began, current change number, corrupted flag and the map's memory (one byte per "
					+ "block).")
	static final class Info extends LeafCommand {
		@Parameters(paramLabel = "DEVICE", description = "block device path or MAJ:MIN",
				converter = DeviceConverter.class)
		DeviceId device;

		@Override
		public Integer call() throws Exception {
			CbtInfo info;
			try (Control control = openControl()) {
				info = control.cbtInfo(device);
			}
			InfoView v = InfoView.of(info, nameOf(device));
			if (json()) {
				Output.json(out(), v);
				return ExitCodes.OK;
			}
			PrintWriter out = out();
			out.printf("device:         %s%n", label(device));
			out.printf("capacity:       %d bytes (%d sectors, %s)%n", v.capacityBytes(), v.capacitySectors(),
					Output.human(v.capacityBytes()));
			out.printf("block size:     %d bytes (%s)%n", v.blockSize(), Output.human(v.blockSize()));
			out.printf("block count:    %d%n", v.blockCount());
			out.printf("generation:     %s%n", v.generation());
			out.printf("since:          %s%n", info.reason().description());
			out.printf("changes number: %d%n", v.changesNumber());
			out.printf("corrupted:      %s%n", v.corrupted() ? "YES: the map cannot be trusted, take a full backup" : "no");
			out.printf("map memory:     %d bytes (%s)%n", v.mapBytes(), Output.human(v.mapBytes()));
			return ExitCodes.OK;
		}
	}

	@Command(name = "map", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
			header = "Print the byte ranges of DEVICE changed since a change number.",
			description = {"Print the byte ranges of DEVICE written after change number N of this generation "
					+ "(default 0: everything written since the generation began). Adjacent blocks are merged; "
					+ "ranges are whole blocks, the last one clamped to the end of the device.",
				"%nA range is a hole when each of its blocks was last changed by a discard, secure erase, "
					+ "write-zeroes or zone reset that covered it whole, at or before change number --closed "
					+ "(the closedNumber of the checkpoint or snapshot the backup reads): its content is zeroes "
					+ "or undefined, and a backup may store it as a hole without reading it. Blocks changed "
					+ "after --closed are always data.",
				"%nText output: one 'OFFSET LENGTH' line per range of data and one 'OFFSET LENGTH hole' line "
					+ "per hole (decimal bytes), then one summary line starting with '#'. Fails with exit 5 when "
					+ "the map is corrupted or not of --generation."})
	static final class Map extends LeafCommand {
		@Parameters(paramLabel = "DEVICE", description = "block device path or MAJ:MIN",
				converter = DeviceConverter.class)
		DeviceId device;

		@Option(names = "--since", paramLabel = "N", defaultValue = "0",
				description = "change number 0..255, usually the closedNumber of the last checkpoint (default: ${DEFAULT-VALUE})")
		int since;

		@Option(names = "--closed", paramLabel = "N",
				description = "change number 0..255 closed by the checkpoint or snapshot this backup reads; holes "
						+ "are reported only for blocks changed at or before it (default: the map's last closed "
						+ "number, its change number minus 1; 0 reports no holes)")
		Integer closed;

		@Option(names = "--generation", paramLabel = "UUID",
				description = "fail (exit 5) unless the map is still of this generation, e.g. the one of the last backup's checkpoint")
		UUID generation;

		@Override
		public Integer call() throws Exception {
			if (since < 0 || since > 255)
				throw new ParameterException(spec.commandLine(), "--since must be 0..255, not " + since);
			if (closed != null && (closed < 0 || closed > 255))
				throw new ParameterException(spec.commandLine(), "--closed must be 0..255, not " + closed);
			CbtMap map;
			try (Control control = openControl()) {
				map = control.readMap(device);
			}
			CbtInfo info = map.info();
			if (info.corrupted())
				throw new MapUnusableException("cbt map " + device + ": the map is marked corrupted (generation "
						+ info.generation() + ") — take a full backup");
			if (generation != null && !generation.equals(info.generation()))
				throw new MapUnusableException("cbt map " + device + ": the map is of generation "
						+ info.generation() + ", not " + generation + " — take a full backup");
			int upTo = closed != null ? closed : info.changesNumber() - 1;
			List<ChangedRange> changed = map.changesSince(since, upTo);
			long total = 0;
			long holes = 0;
			for (ChangedRange r : changed) {
				total += r.length();
				if (r.hole())
					holes += r.length();
			}
			PrintWriter out = out();
			if (json()) {
				List<RangeView> ranges = new ArrayList<>(changed.size());
				for (ChangedRange r : changed)
					ranges.add(new RangeView(r.offset(), r.length(), r.hole()));
				Output.json(out, new MapView(device.toString(), info.generation(), since, upTo, info.changesNumber(),
						info.blockSize(), info.capacityBytes(), ranges, total, holes));
				return ExitCodes.OK;
			}
			for (ChangedRange r : changed) {
				out.print(r.offset());
				out.print(' ');
				out.print(r.length());
				out.println(r.hole() ? " hole" : "");
			}
			out.printf("# %d range%s, %d bytes (%s) changed since %d, %d bytes of them holes (closed %d); "
					+ "generation %s, change number %d, block size %d%n",
					changed.size(), changed.size() == 1 ? "" : "s", total, Output.human(total), since, holes, upTo,
					info.generation(), info.changesNumber(), info.blockSize());
			return ExitCodes.OK;
		}
	}

	@Command(name = "mark-dirty", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
			header = "Mark ranges of DEVICE as changed now.",
			description = {"Mark ranges of DEVICE as changed now, as if they were written: for data changed "
					+ "behind the tracker's back. All ranges are checked before any is marked.",
				"%nRANGE is START+LENGTH in 512-byte sectors, e.g. 2048+8. With --bytes, START and LENGTH are "
					+ "bytes and may end in K, M, G or T (powers of 1024); the range is rounded out to whole "
					+ "sectors: --bytes 1M+4K is sectors 2048+8, --bytes 100+1 is sectors 0+1."})
	static final class MarkDirty extends LeafCommand {
		@Parameters(index = "0", paramLabel = "DEVICE", description = "block device path or MAJ:MIN",
				converter = DeviceConverter.class)
		DeviceId device;

		@Parameters(index = "1..*", arity = "1..*", paramLabel = "RANGE",
				description = "START+LENGTH, in sectors (in bytes with --bytes)")
		List<String> ranges;

		@Option(names = "--bytes", description = "RANGEs are in bytes (K/M/G/T suffixes allowed), rounded out to sectors")
		boolean bytes;

		@Override
		public Integer call() throws Exception {
			// Parsed here rather than by a picocli converter: a bad value in the
			// middle of a list would otherwise be reported as "unmatched".
			List<SectorRange> sectors = new ArrayList<>(ranges.size());
			try {
				for (String r : ranges)
					sectors.add(RangeArg.parse(r).toSectors(bytes));
			} catch (IllegalArgumentException e) {
				throw new ParameterException(spec.commandLine(), "bad RANGE: " + e.getMessage(), e);
			}
			try (Control control = openControl()) {
				control.markDirty(device, List.copyOf(sectors));
			}
			long total = 0;
			List<SectorRangeView> views = new ArrayList<>(sectors.size());
			for (SectorRange s : sectors) {
				total += s.count();
				views.add(new SectorRangeView(s.offset(), s.count()));
			}
			if (json())
				Output.json(out(), new MarkDirtyView(device.toString(), views, total));
			else
				out().printf("%s: marked %d range%s, %d sectors (%s), as changed%n", label(device), views.size(),
						views.size() == 1 ? "" : "s", total, Output.human(total * RangeArg.SECTOR_SIZE));
			return ExitCodes.OK;
		}
	}

	@Command(name = "checkpoint", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
			header = "Close DEVICE's current change number.",
			description = {"Close DEVICE's current change number: writes from now on get a new one, so "
					+ "'map --since CLOSED' later lists exactly the blocks written after this checkpoint. Take it "
					+ "right before reading the data of a backup; keep the closed number and the generation.",
				"%nWhen the change number would pass 255 a new generation begins (newGeneration: true): the map "
					+ "is emptied and the next backup must be full."})
	static final class CheckpointCommand extends LeafCommand {
		@Parameters(paramLabel = "DEVICE", description = "block device path or MAJ:MIN",
				converter = DeviceConverter.class)
		DeviceId device;

		@Override
		public Integer call() throws Exception {
			Checkpoint c;
			try (Control control = openControl()) {
				c = control.checkpoint(device);
			}
			// The contract gives a fresh generation change number 1; an ordinary
			// checkpoint moves from the closed number to a later one, never to 1.
			boolean fresh = c.changesNumber() == 1;
			if (json()) {
				Output.json(out(), new CheckpointView(device.toString(), c.generation(), c.closedNumber(),
						c.changesNumber(), fresh));
				return ExitCodes.OK;
			}
			out().printf("%s: closed change number %d, writes now get %d; generation %s%n", label(device),
					c.closedNumber(), c.changesNumber(), c.generation());
			if (fresh)
				out().println("note: a new generation began (the change number wrapped): the next backup must be full");
			return ExitCodes.OK;
		}
	}
}
