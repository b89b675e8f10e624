/** Certificates for tests that serve TLS, made with Debian's openssl in the test's own folder. */
import { execFileSync } from "node:child_process";
import { join } from "node:path";

/** A self-signed P-256 cert valid for 127.0.0.1 and localhost, for one day. */
export function selfSignedCert(dir: string, name = "cluster"): { certPath: string; keyPath: string } {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout",
      keyPath,
      "-out",
      certPath,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return { certPath, keyPath };
}
