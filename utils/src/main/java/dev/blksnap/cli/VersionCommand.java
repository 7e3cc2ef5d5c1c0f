// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.ModuleVersion;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;

/** {@code blksnap version}: this program's version and the module's. */
@Command(name = "version", mixinStandardHelpOptions = true, versionProvider = BlksnapCommand.CliVersion.class,
		header = "Print the versions of this program and of the loaded module.",
		description = "Print the version of this program, and the contract version and features of the loaded "
				+ "blksnap module. Fails (exit 69) when the module is not loaded; 'blksnap --version' needs no module.")
final class VersionCommand extends LeafCommand {

	/** Known feature bits, by bit number; null: not named here (bit 5, writable images). */
	private static final String[] FEATURES = {"cbt", "snapshot", "cbt-holes", "events", "add-storage", "writable-images", "poll"};

	/** JSON of {@code blksnap version --json}. */
	public record View(String cli, ModuleView module) {
	}

	/**
	 * The module part; {@code features} are names, {@code featureBits} the raw
	 * mask, {@code compatible} whether this program speaks the module's major.
	 */
	public record ModuleView(String version, int major, int minor, int patch, List<String> features,
			long featureBits, boolean compatible) {
	}

	@Override
	public Integer call() throws Exception {
		ModuleVersion v;
		try (Control control = openControl()) {
			v = control.version();
		}
		View view = new View(BlksnapCommand.cliVersion(), new ModuleView(v.toString(), v.major(), v.minor(),
				v.patch(), featureNames(v.features()), v.features(), v.isCompatible()));
		if (json()) {
			Output.json(out(), view);
		} else {
			out().println("blksnap " + view.cli());
			List<String> f = view.module().features();
			out().println("module contract " + view.module().version() + ", features: "
					+ (f.isEmpty() ? "none" : String.join(" ", f)));
			if (!view.module().compatible())
				out().println("warning: this program speaks contract " + ModuleVersion.SUPPORTED_MAJOR
						+ ".x only: upgrade it or the module");
		}
		return ExitCodes.OK;
	}

	/** Names of the bits set in {@code mask}; unknown bits as "bitN". */
	static List<String> featureNames(long mask) {
		List<String> names = new ArrayList<>();
		for (int bit = 0; bit < Long.SIZE; bit++) {
			if ((mask & (1L << bit)) != 0)
				names.add(bit < FEATURES.length && FEATURES[bit] != null ? FEATURES[bit] : "bit" + bit);
		}
		return List.copyOf(names);
	}
}
