// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Manifests and verification records as JSON files. Readers and writers are immutable. */
final class Json {
	private static final JsonMapper MAPPER = JsonMapper.builder()
			.enable(SerializationFeature.INDENT_OUTPUT)
			// Later versions may add fields; an older reader ignores them.
			.disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
			.build();
	private static final ObjectWriter WRITER = MAPPER.writer();
	private static final ObjectReader MANIFEST = MAPPER.readerFor(Manifest.class);
	private static final ObjectReader VERIFICATION = MAPPER.readerFor(Verification.class);

	private Json() {
	}

	static byte[] bytes(Object value) throws IOException {
		byte[] b = WRITER.writeValueAsBytes(value);
		byte[] withNewline = java.util.Arrays.copyOf(b, b.length + 1);
		withNewline[b.length] = '\n';
		return withNewline;
	}

	static Manifest manifest(Path file) throws IOException {
		try {
			Manifest m = MANIFEST.readValue(Files.readAllBytes(file));
			if (m.format() != Manifest.FORMAT)
				throw new IOException(file + ": manifest format " + m.format() + " is not supported");
			return m;
		} catch (com.fasterxml.jackson.core.JacksonException e) {
			throw new IOException(file + ": not a valid manifest: " + e.getOriginalMessage(), e);
		}
	}

	static Verification verification(Path file) throws IOException {
		try {
			return VERIFICATION.readValue(Files.readAllBytes(file));
		} catch (com.fasterxml.jackson.core.JacksonException e) {
			throw new IOException(file + ": not a valid verification record: " + e.getOriginalMessage(), e);
		}
	}
}
