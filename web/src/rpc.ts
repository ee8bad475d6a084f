/**
 * The gRPC-Web client of execstream's ExecutionService, on the page's own origin.
 *
 * Calls go to the directory the page was served from, so the dashboard works under a
 * reverse proxy's path prefix. The bearer token, when the server has auth on, travels in
 * the `authorization` metadata header exactly as native gRPC clients send it.
 */

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { ErrorInfoSchema, type ErrorInfo } from "./gen/google/rpc/error_details_pb";
import { ExecutionService } from "./gen/execstream/v1/service_pb";

export type ExecutionClient = Client<typeof ExecutionService>;

const TOKEN_KEY = "execstream.token";

/** The bearer token for this tab (kept in sessionStorage: gone when the tab closes). */
export const tokens = {
  get(): string {
    return sessionStorage.getItem(TOKEN_KEY) ?? "";
  },
  set(token: string): void {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

const bearer: Interceptor = (next) => async (req) => {
  const token = tokens.get();
  if (token) req.header.set("authorization", `Bearer ${token}`);
  return next(req);
};

/** The base URL of the calls: the page's directory, without a trailing slash. */
export function serviceBaseUrl(location: Location = window.location): string {
  const url = new URL(".", location.href);
  return url.href.replace(/\/$/, "");
}

export function createExecutionClient(baseUrl: string = serviceBaseUrl()): ExecutionClient {
  const transport = createGrpcWebTransport({ baseUrl, interceptors: [bearer] });
  return createClient(ExecutionService, transport);
}

/** A failed call, as the page needs it: code, message, and the ErrorInfo if any. */
export interface CallFailure {
  code: Code;
  message: string;
  reason: string;
  metadata: Record<string, string>;
}

export function failureOf(error: unknown): CallFailure {
  const connectError = ConnectError.from(error);
  const infos: ErrorInfo[] = connectError.findDetails(ErrorInfoSchema);
  const info = infos[0];
  return {
    code: connectError.code,
    message: connectError.rawMessage,
    reason: info?.reason ?? "",
    metadata: info ? { ...info.metadata } : {},
  };
}

export function isCancel(error: unknown): boolean {
  return error instanceof Error && error.name === "AbortError"
    ? true
    : ConnectError.from(error).code === Code.Canceled;
}

export { Code };
