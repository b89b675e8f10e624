/** The S3 gateway's public face. */
export { S3_ERRORS, S3Error, type S3ErrorCode } from "./errors.js";
export { type GatewayOptions, type RunningGateway, runS3Gateway } from "./main.js";
export { buildS3Server, type S3AccessKeyEntry, type S3ServerDeps, type S3ServerOptions } from "./server.js";
