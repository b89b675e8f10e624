/**
 * S3's XML: answers built as text (escaped), request documents parsed with fast-xml-parser after a
 * validation pass, so malformed XML is MalformedXML and never half-understood. Entity expansion is
 * off (no billion laughs), and every list a document may carry is bounded by its handler.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { S3Error } from "./errors.js";

const XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';
const NS = "http://s3.amazonaws.com/doc/2006-03-01/";

export function esc(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos" }[c]};`,
  );
}

/** A tree of elements: a string/number is text, an array repeats the element, an object nests. */
export type XmlValue = string | number | boolean | XmlTree | XmlValue[] | undefined;
export interface XmlTree {
  [name: string]: XmlValue;
}

function render(name: string, v: XmlValue): string {
  if (v === undefined) return "";
  if (Array.isArray(v)) return v.map((x) => render(name, x)).join("");
  if (typeof v === "object") {
    return `<${name}>${Object.entries(v)
      .map(([k, x]) => render(k, x))
      .join("")}</${name}>`;
  }
  return `<${name}>${esc(String(v))}</${name}>`;
}

/** `<Root xmlns="...">...</Root>` with the XML declaration. */
export function xmlDocument(root: string, body: XmlTree): string {
  const inner = Object.entries(body)
    .map(([k, x]) => render(k, x))
    .join("");
  return `${XML_DECL}<${root} xmlns="${NS}">${inner}</${root}>`;
}

export function errorXml(code: string, message: string, resource: string, requestId: string): string {
  return `${XML_DECL}${render("Error", { Code: code, Message: message, Resource: resource, RequestId: requestId })}`;
}

const parser = new XMLParser({
  ignoreAttributes: true,
  processEntities: true,
  htmlEntities: false,
  parseTagValue: false,
  // Text is kept as sent: a key may be " " or end in spaces (DeleteObjects of such keys removed
  // nothing while values were trimmed). The indentation between elements is dropped below.
  trimValues: false,
  ignoreDeclaration: true,
  removeNSPrefix: true,
});

/** Parses a request document and returns its root element's content; `root` names the root expected. */
export function parseXml(body: Buffer, root: string): Record<string, unknown> {
  const text = body.toString("utf8");
  if (text.includes("<!DOCTYPE") || text.includes("<!ENTITY")) {
    throw new S3Error("MalformedXML", "document type declarations are not accepted");
  }
  if (XMLValidator.validate(text) !== true) {
    throw new S3Error("MalformedXML", "the XML you provided was not well-formed");
  }
  const doc = withoutIndentation(parser.parse(text)) as Record<string, unknown>;
  const top = doc[root];
  if (top === undefined) throw new S3Error("MalformedXML", `the document's root is not <${root}>`);
  if (typeof top === "string" && top.trim() === "") return {};
  if (typeof top !== "object" || top === null) throw new S3Error("MalformedXML", `<${root}> is malformed`);
  return top as Record<string, unknown>;
}

/** Drops the whitespace text between child elements (`#text` beside them); leaf text stays as sent. */
function withoutIndentation(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutIndentation);
  if (typeof v !== "object" || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === "#text" && typeof x === "string" && x.trim() === "") continue;
    out[k] = withoutIndentation(x);
  }
  return out;
}

/** An element that may appear once or many times, as a list. */
export function many(v: unknown): unknown[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}
