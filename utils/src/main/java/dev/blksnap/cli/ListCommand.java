// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.backup.Manifest;
import dev.blksnap.backup.Point;
import dev.blksnap.backup.Repository;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code blksnap list}: the points in a backup directory. */
@Command(name = "list", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
		header = "List the points in a backup directory.",
		description = "List every committed point: device, id, type, device size, file size, snapshot time, "
				+ "backing point and the outcome of the last verify (ok, FAILED, never).")
final class ListCommand extends LeafCommand {
	@Parameters(index = "0", paramLabel = "DIR", description = "the backup directory")
	Path dir;

	/** One point of {@code list --json}. */
	public record PointView(String device, String id, String type, long sizeBytes, long fileBytes, String snapshot,
			String backing, String full, int depth, String verified, String file) {
	}

	/** JSON of {@code list --json}. */
	public record View(String dir, List<PointView> points) {
	}

	@Override
	public Integer call() throws Exception {
		List<PointView> views = Repository.open(dir).points().stream().map(ListCommand::view).toList();
		if (json()) {
			Output.json(out(), new View(dir.toString(), views));
			return ExitCodes.OK;
		}
		if (views.isEmpty())
			return ExitCodes.OK;
		String format = "%-12s %-6s %-12s %10s %10s %-24s %-7s %s%n";
		out().printf(format, "DEVICE", "ID", "TYPE", "SIZE", "FILE", "SNAPSHOT", "BACKING", "VERIFIED");
		for (PointView v : views)
			out().printf(format, v.device(), v.id(), v.type(), Output.human(v.sizeBytes()), Output.human(v.fileBytes()),
					v.snapshot(), v.backing() == null ? "-" : v.backing(), v.verified());
		return ExitCodes.OK;
	}

	private static PointView view(Point p) {
		Manifest m = p.manifest();
		return new PointView(p.device(), p.id(), m.type().label(), m.device().sizeBytes(), m.image().fileBytes(),
				m.times().snapshot(), m.chain().backing(), m.chain().full(), m.chain().depth(), p.verificationState(),
				p.image().toString());
	}
}
