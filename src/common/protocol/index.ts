export * from "./batch-schemas.js";
export * from "./data.js";
export * from "./data-schemas.js";
export * from "./ids.js";
export * from "./meta.js";
export * from "./meta-schemas.js";
export * from "./meta-types.js";
export * from "./version-meta.js";
