// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.backup.Repository;
import dev.blksnap.backup.RestoreResult;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code blksnap restore}: a point back to a file or a device. */
@Command(name = "restore", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
		header = "Restore a point of a device to a new file or a block device.",
		description = "Write the device image of point ID (default: the latest) of device NAME to TARGET, "
				+ "reading the point's chain with several requests in flight. A new file is sparse: ranges that "
				+ "read zeros stay holes. On a block device, zero ranges are written only where the device does "
				+ "not already read zeros. An existing regular file is refused.")
final class RestoreCommand extends LeafCommand {
	@Parameters(index = "0", paramLabel = "DIR", description = "the backup directory")
	Path dir;

	@Option(names = "--device", required = true, paramLabel = "NAME", description = "the device's name in DIR (see 'blksnap list')")
	String device;

	@Option(names = "--point", paramLabel = "ID", description = "the point (default: the latest)")
	String point;

	@Option(names = "--to", required = true, paramLabel = "TARGET", description = "a new file, or a block device at least as large")
	Path target;

	@Option(names = "--readers", paramLabel = "N", defaultValue = "4", description = "reads in flight (default: ${DEFAULT-VALUE})")
	int readers;

	@Override
	public Integer call() throws Exception {
		if (point != null && !point.matches("[0-9]{1,6}"))
			throw new picocli.CommandLine.ParameterException(spec.commandLine(),
					"--point wants a point id (a number), not '" + point + "'");
		Repository repo = Repository.open(dir);
		RestoreResult r = repo.restore(device, point, target, readers, Bars.forTerminal(!json()));
		if (json()) {
			Output.json(out(), r);
			return ExitCodes.OK;
		}
		out().printf("%s: point %s restored to %s: %s, %s written, %s zeros, in %.1f s%n", r.device(), r.id(),
				r.target(), Output.human(r.sizeBytes()), Output.human(r.bytesWritten()), Output.human(r.zeroBytes()),
				r.durationMillis() / 1000.0);
		return ExitCodes.OK;
	}
}
