/**
 * TLS material from the config: the listeners' cert and key, and the CA every client of the cluster
 * trusts (`tls.caPath`, else the cert itself: a self-signed cluster cert is the common case).
 * Read once at start-up; a missing or unreadable file is a config error, listed like the others.
 */
import { readFileSync } from "node:fs";
import { type ClusterConfig, ConfigError, type TlsConfig } from "./config.js";

export interface ServerTls {
  cert: Buffer;
  key: Buffer;
}

function readPem(source: string, key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(source, [`/tls/${key}: cannot read ${path}: ${(err as Error).message}`]);
  }
}

/** The cert and key a listener serves, or null when the cluster runs plain HTTP. */
export function serverTls(config: ClusterConfig, source = "<config>"): ServerTls | null {
  const tls: TlsConfig | undefined = config.tls;
  if (!tls) return null;
  return { cert: readPem(source, "certPath", tls.certPath), key: readPem(source, "keyPath", tls.keyPath) };
}

/** The PEM a client trusts for this cluster's listeners, or undefined (plain HTTP, or the system's CAs). */
export function clusterCa(config: ClusterConfig, source = "<config>"): Buffer | undefined {
  const tls = config.tls;
  if (!tls) return undefined;
  return tls.caPath !== undefined
    ? readPem(source, "caPath", tls.caPath)
    : readPem(source, "certPath", tls.certPath);
}
