/**
 * The ways one URL path can be spelled on the wire. A server that authorizes by the raw URL text
 * while its router decodes it can be walked around with any of the spellings marked `routes`.
 */

const encodeAll = (p: string) =>
  p.replace(/[a-z0-9]/gi, (ch) => `%${ch.charCodeAt(0).toString(16).padStart(2, "0")}`);

export interface Spelling {
  url: string;
  /** The router decodes this spelling to the same route (so the route's rule must apply). */
  routes: boolean;
}

export function urlSpellings(path: string): Spelling[] {
  const segments = path.split("/");
  const firstEncoded = segments.map((s) => (s.length > 0 ? encodeAll(s[0] ?? "") + s.slice(1) : s)).join("/");
  const all: Spelling[] = [
    { url: path, routes: true },
    { url: encodeAll(path), routes: true },
    { url: firstEncoded, routes: true },
    { url: encodeAll(path).toUpperCase(), routes: true },
    { url: `${path}?x=1`, routes: true },
    { url: path.replaceAll("/", "//"), routes: false },
    { url: `/${path}`, routes: false },
    { url: `${path}/`, routes: false },
    { url: path.toUpperCase(), routes: false },
    { url: path.replace(/^\/([^/]+)\//, "/$1/./"), routes: false },
    { url: `/x/..${path}`, routes: false },
    { url: `/${path.slice(1).replaceAll("/", "%2F")}`, routes: false },
    { url: `${path};x=1`, routes: false },
  ];
  return all.filter((s, i) => all.findIndex((o) => o.url === s.url) === i);
}
