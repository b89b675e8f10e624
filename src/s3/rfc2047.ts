/**
 * User metadata beyond ASCII, as S3 handles it: a value sent as RFC 2047 encoded words
 * (`=?UTF-8?B?...?=`, `=?UTF-8?Q?...?=`) is decoded before it is stored, and a stored value that is
 * not printable ASCII is answered as encoded words (`=?UTF-8?B?...?=`), "mail-safe". HTTP header bytes
 * carry no charset: Node hands them over as latin1 text, and the gateway reads them as UTF-8 when they
 * are valid UTF-8 (what botocore and the AWS SDK send), else as latin1.
 */
import { TextDecoder } from "node:util";

/** The text of header bytes that Node gave as latin1: their UTF-8 reading if valid, else as given. */
export function headerText(latin1: string): string {
  if (!/[^\p{ASCII}]/u.test(latin1)) return latin1;
  const bytes = Buffer.from(latin1, "latin1");
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return latin1;
  }
}

const ENCODED_WORD = /^=\?([A-Za-z0-9_.:-]+)(?:\*[A-Za-z-]+)?\?([BbQq])\?([^?\s]*)\?=$/;

function charsetDecoder(charset: string): TextDecoder | null {
  const c = charset.toLowerCase();
  if (c === "utf-8" || c === "utf8") return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  if (c === "iso-8859-1" || c === "latin1" || c === "us-ascii") return new TextDecoder("latin1");
  return null;
}

function wordBytes(encoding: string, text: string): Buffer | null {
  if (encoding === "B" || encoding === "b") {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
    return Buffer.from(text, "base64");
  }
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "_") out.push(0x20);
    else if (ch === "=") {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      out.push(Number.parseInt(hex, 16));
      i += 2;
    } else out.push(ch.charCodeAt(0));
  }
  return Buffer.from(out);
}

/**
 * A value made wholly of encoded words (separated by white space, which RFC 2047 drops between words)
 * decoded; anything else — plain text, a word in a charset not known here, a malformed word — as given.
 */
export function decodeEncodedWords(value: string): string {
  const words = value.trim().split(/\s+/);
  if (words.length === 0 || words[0] === "") return value;
  let out = "";
  for (const w of words) {
    const m = ENCODED_WORD.exec(w);
    if (m === null) return value;
    const decoder = charsetDecoder(m[1]!);
    const bytes = wordBytes(m[2]!, m[3]!);
    if (decoder === null || bytes === null) return value;
    try {
      out += decoder.decode(bytes);
    } catch {
      return value;
    }
  }
  return out;
}

/** Bytes of UTF-8 per encoded word: 45 give 60 base64 characters, a word of 72 (RFC 2047: at most 75). */
const WORD_BYTES = 45;

/** Printable ASCII as is; anything else as `=?UTF-8?B?...?=` words, split only between characters. */
export function mailSafe(value: string): string {
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  const words: string[] = [];
  let chunk: Buffer[] = [];
  let size = 0;
  const flush = () => {
    words.push(`=?UTF-8?B?${Buffer.concat(chunk).toString("base64")}?=`);
    chunk = [];
    size = 0;
  };
  for (const ch of value) {
    const b = Buffer.from(ch, "utf8");
    if (size + b.length > WORD_BYTES) flush();
    chunk.push(b);
    size += b.length;
  }
  if (size > 0) flush();
  return words.join(" ");
}
