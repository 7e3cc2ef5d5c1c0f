// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.backup.Repository;
import dev.blksnap.backup.VerifyResult;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code blksnap verify}: re-read points and check their checksums. */
@Command(name = "verify", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
		header = "Re-read points and check them against their manifests.",
		description = "Re-read every point (or point ID and the points it needs) and check its image against the "
				+ "checksums recorded when it was written, its header against its manifest, and its backing point. "
				+ "The outcome is recorded beside each point ('blksnap list' shows it); the next backup does not "
				+ "build on a point that failed. Exit 6 when any point failed.")
final class VerifyCommand extends LeafCommand {
	@Parameters(index = "0", paramLabel = "DIR", description = "the backup directory")
	Path dir;

	@Option(names = "--point", paramLabel = "ID", description = "only this point (of every device) and its chain")
	String point;

	/** JSON of {@code verify --json}. */
	public record View(String dir, List<VerifyResult> points, int failed) {
	}

	@Override
	public Integer call() throws Exception {
		if (point != null && !point.matches("[0-9]{1,6}"))
			throw new picocli.CommandLine.ParameterException(spec.commandLine(),
					"--point wants a point id (a number), not '" + point + "'");
		List<VerifyResult> results = Repository.open(dir).verify(point, Bars.forTerminal(!json()));
		int failed = (int) results.stream().filter(r -> !r.ok()).count();
		if (json()) {
			Output.json(out(), new View(dir.toString(), results, failed));
		} else {
			for (VerifyResult r : results)
				out().printf("%s %s: %s%n", r.device(), r.id(), r.ok() ? "ok (" + Output.human(r.bytesRead()) + " read)"
						: "FAILED: " + r.problem());
			out().printf("# %d point%s verified, %d failed%n", results.size(), results.size() == 1 ? "" : "s", failed);
		}
		if (failed > 0) {
			spec.commandLine().getErr().println(Errors.PREFIX + dir + ": " + failed + " point"
					+ (failed == 1 ? "" : "s") + " failed verification; the next backup will be full");
			return ExitCodes.VERIFY_FAILED;
		}
		return ExitCodes.OK;
	}
}
