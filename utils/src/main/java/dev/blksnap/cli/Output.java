// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.Locale;

/** Formatting shared by the commands: JSON documents and human sizes. */
final class Output {

	/** Immutable and thread-safe; two-space indentation, {@code "key": value}, {@code []}. */
	private static final ObjectWriter JSON = JsonMapper.builder()
			.disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET)
			.build()
			.writer(new Printer());

	private Output() {
	}

	/** Writes {@code value} as a JSON document followed by a newline. */
	static void json(PrintWriter out, Object value) throws IOException {
		JSON.writeValue(out, value);
		out.println();
	}

	/** Jackson's pretty printer, but one line per value and {@code []}, {@code {}} when empty. */
	private static final class Printer extends DefaultPrettyPrinter {
		private static final long serialVersionUID = 1L;

		Printer() {
			super(Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER));
			indentArraysWith(new DefaultIndenter("  ", "\n"));
			indentObjectsWith(new DefaultIndenter("  ", "\n"));
		}

		private Printer(Printer base) {
			super(base);
		}

		@Override
		public DefaultPrettyPrinter createInstance() {
			return new Printer(this);
		}

		@Override
		public void writeEndArray(JsonGenerator g, int nrOfValues) throws IOException {
			if (nrOfValues == 0) {
				_nesting--;
				g.writeRaw(']');
				return;
			}
			super.writeEndArray(g, nrOfValues);
		}

		@Override
		public void writeEndObject(JsonGenerator g, int nrOfEntries) throws IOException {
			if (nrOfEntries == 0) {
				_nesting--;
				g.writeRaw('}');
				return;
			}
			super.writeEndObject(g, nrOfEntries);
		}
	}

	/** "1.5 GiB"; bytes below 1 KiB as "512 B". */
	static String human(long bytes) {
		if (bytes < 1024)
			return bytes + " B";
		String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
		double value = bytes;
		int unit = -1;
		while (value >= 1024 && unit < units.length - 1) {
			value /= 1024;
			unit++;
		}
		return String.format(Locale.ROOT, "%.1f %s", value, units[unit]);
	}
}
