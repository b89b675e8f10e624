export * from "./data.js";
export * from "./meta.js";
