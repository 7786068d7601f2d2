/**
 * The yardstick for the local-mode bench: a bare smtp-server that accepts every message and throws it
 * away, configured as local mode's intake is (STARTTLS with a certificate of the same kind, the same
 * size limit, no reverse DNS, no AUTH), so the same clients do the same SMTP work against it. What
 * local mode does beyond this (authentication, storing, routing, delivering) is what the comparison
 * measures.
 *
 * `node bin/run-ts.js bench/local-sink.ts <certificate folder>` prints `listening <port>` once it listens.
 */
import { SMTPServer } from "smtp-server";
import { SES_MAX_MESSAGE_BYTES } from "../core/limits";
import { ensureCertificate } from "../local/certificate";
import { SMTP_MAX_CLIENTS } from "../local/limits";

async function main(certificateDir: string): Promise<void> {
  const tls = await ensureCertificate(certificateDir, { commonName: "sink.local", altNames: ["localhost", "127.0.0.1"] });
  const server = new SMTPServer({
    name: "sink.local",
    banner: "smtp-server sink",
    size: SES_MAX_MESSAGE_BYTES,
    rejectOversized: true,
    hideENHANCEDSTATUSCODES: false,
    authOptional: true,
    disabledCommands: ["AUTH"],
    key: tls.key,
    cert: tls.cert,
    disableReverseLookup: true,
    maxClients: SMTP_MAX_CLIENTS,
    logger: false,
    onData(stream, _session, callback) {
      stream.on("end", () => callback(null, "Ok: discarded"));
      stream.resume();
    },
  });
  server.on("error", () => undefined);
  server.listen(0, "127.0.0.1", () => {
    const address = server.server.address();
    process.stdout.write(`listening ${typeof address === "object" && address ? address.port : 0}\n`);
  });
  process.on("SIGINT", () => server.close(() => process.exit(0)));
}

main(process.argv[2] ?? ".sink-tls").catch((error: unknown) => {
  process.stderr.write(`sink failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
